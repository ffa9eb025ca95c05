"""MonoGaussianAvatar point avatars."""
