#!/usr/bin/env bash
# Install, then generate a `stage` scene from a bundled photo on the embedded default models.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
mkdir -p outputs
gld8tr run --image examples/coffee.jpg --prompt "a cup of coffee on a wooden table" --mode stage \
  --output_path outputs/coffee_stage.ply --save-views outputs/coffee_views "$@"
