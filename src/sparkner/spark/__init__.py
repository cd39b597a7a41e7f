"""The Spark glue: one UDF factory (`udf`: `ner_udf`, `register`) and the output's Spark types (`schema`)."""
