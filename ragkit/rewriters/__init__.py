"""Query rewriters: GenQR ensembles, PRF (RM3, Rocchio), HyDE, multi-query; the pipeline runs them."""
