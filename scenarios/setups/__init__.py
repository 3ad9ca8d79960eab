"""Set-ups the jobs share: the model zoo, the datasets' loaders and the models of each dataset."""
