"""Training and evaluation of the refiner: motion-capture readers, synthetic views and detector noise, train, evaluate."""
