"""The networks: the three torchvision video ResNets with a one-channel stem and a three-class head, and the weights they start from."""
