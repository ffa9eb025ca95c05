"""The splatting layer, under every avatar kind: `Gaussians` (gaussians.py), 3DGS PLY files (ply.py) and the
rasterizers (rasterizer/: `rasterize`, the CPU one and the CUDA ones). It imports nothing of livehead but models/."""
