"""Query rewriters: GenQR ensembles, PRF (RM3, Rocchio), HyDE, multi-query; ``rewrite_and_retrieve``."""
