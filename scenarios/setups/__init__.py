"""Set-ups the jobs share: the model zoo, the datasets' loaders, the models of each dataset and three
input encoders from the literature (`literature_encoders`: phase, burst, sigma-delta)."""
