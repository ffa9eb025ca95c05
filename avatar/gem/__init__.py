"""GEM (Gaussian Eigen Models, Zielon/GEM) avatars.

- model.py: the eigen model's buffers and `eigen_gaussians`, the fast reconstruction;
- reference.py: the same maths straight from the spec, in float64, that the fast path is tested against;
- original_files.py: the original's `.ptk` files and regressor checkpoint -> a GemModel and its coefficient track;
- avatar.py: `GemAvatar`, FLAME parameters (+ eigen coefficients) -> Gaussians;
- build.py: a GEM built from any avatar (sampled faces, PCA per attribute), with its mapper;
- mapper.py: `EigenMapper`, FLAME parameters -> eigen coefficients (ridge regression);
- file.py: livehead's GEM `.npz`, and writing the original's `.ptk` layout;
- demo.py: the demo avatar's GEM, built on first use and cached;
- __main__.py: `python -m avatar.gem build | fit-mapper`.
"""
