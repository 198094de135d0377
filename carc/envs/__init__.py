"""Environment families (MiniGrid, Panda-Gym, any Gymnasium id), experts and the reward wrappers."""
