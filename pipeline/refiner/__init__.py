"""The refiner: MixSynthFormer (torch, the paper's equations), its windows, normalisation, weights and model cards."""
