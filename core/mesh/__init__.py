"""Triangle meshes from posed depth: TSDF fusion (:mod:`.tsdf`, Open3D alternative in :mod:`.open3d_fusion`),
frame-to-frame depth for sequences without a sensor (:mod:`.sequence`), the learned IOAR-style refiner
(:mod:`.refine`), the pipeline of both (:mod:`.reconstruct`), mesh files (:mod:`.io`) and the Atlas / IOAR mesh
metrics (:mod:`.metrics`). See docs/MESH.md."""
