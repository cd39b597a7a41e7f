"""Entity metrics: span precision, recall and F1 computed in Spark (`spans`), gold readers for Spark
(`gold`: `read_conll`, `read_spans`) and the CoNLL/IOB file format they share (`conll`)."""
