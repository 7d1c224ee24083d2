"""What one experiment is: its configuration, the protocol plan its deviations decide, its run folder and the device it runs on."""
