"""Training one run: the loss, the optimiser step, the epoch loop, how the epoch is chosen, the source task and the step's speed."""
