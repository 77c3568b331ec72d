"""Training of the depth-completion network: data (real readers, synthetic scenes, self-training masks) and the
trainer. Importing this package is cheap; heavy libraries load inside the modules that need them."""
