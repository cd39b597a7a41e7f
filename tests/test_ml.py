"""sparkner.ml: NER and masking as Spark ML pipeline stages, with Params from the option declarations,
in a pipeline beside other stages, saved and loaded with it."""

from __future__ import annotations

import pytest
from parity import EXACT
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import SQLTransformer

import sparkner
from sparkner.ml import EntityRecognizer, MaskRecognizer
from sparkner.options.settings import OPTIONS

TEXTS = ["Angela Merkel met Emmanuel Macron in Paris.", None, "", "Siemens AG opened an office in Munich."]


@pytest.fixture(scope="module")
def docs(spark):
    return spark.createDataFrame(list(enumerate(TEXTS)), "id int, text string").repartition(2)


def by_id(frame, column):
    return {row["id"]: row[column] for row in frame.select("id", column).collect()}


def test_every_option_is_a_param_with_its_default_setter_and_getter():
    stage = EntityRecognizer()
    for name, declared in OPTIONS.items():
        camel = name.split("_")[0] + "".join(part.title() for part in name.split("_")[1:])
        if declared.secret:
            assert not stage.hasParam(camel), "a secret is never a Param: Params are saved with the pipeline"
            continue
        assert stage.hasParam(camel) and declared.help.split("`")[0].strip() in stage.getParam(camel).doc
        if declared.default is not None:
            assert stage.getOrDefault(camel) == declared.default
    stage.setAggregationStrategy("max").setMinScore(0.5).setIgnoreLabels(["O", "MISC"]).setStride(32)
    assert (stage.getAggregationStrategy(), stage.getMinScore(), stage.getIgnoreLabels(), stage.getStride()) == (
        "max",
        0.5,
        ["O", "MISC"],
        32,
    )
    assert stage.getInputCol() == "text" and stage.getOutputCol() == "entities" and stage.getModel()


def test_a_bad_value_is_refused_when_set_with_the_options_message():
    with pytest.raises(ValueError, match="aggregation_strategy 'firts' is not one of none, simple, first, average"):
        EntityRecognizer(aggregationStrategy="firts")
    with pytest.raises(ValueError, match="min_score must be a number between 0 and 1"):
        EntityRecognizer().setMinScore(3)
    with pytest.raises(ValueError, match="mask operator for 'PER' must be an object"):
        MaskRecognizer(maskOperators='{"PER": "hide"}')


def test_in_a_pipeline_it_equals_ner_udf_also_after_save_and_load(spark, docs, tmp_path):
    options = {"aggregation_strategy": "simple", "min_score": 0.3, **EXACT}
    stage = EntityRecognizer(model=sparkner.DEMO_MODEL, aggregationStrategy="simple", minScore=0.3)
    stage.setRuntime("torch").setDtype("float32")
    pipeline = Pipeline(stages=[SQLTransformer(statement="SELECT *, length(text) AS characters FROM __THIS__"), stage])
    model = pipeline.fit(docs)
    expected = by_id(docs.withColumn("e", sparkner.ner_udf(sparkner.DEMO_MODEL, **options)("text")), "e")
    transformed = model.transform(docs)
    assert "characters" in transformed.columns, "beside another stage"
    assert by_id(transformed, "entities") == expected
    model.write().overwrite().save(str(tmp_path / "pipeline"))
    loaded = PipelineModel.load(str(tmp_path / "pipeline"))
    assert loaded.stages[1].getMinScore() == 0.3 and loaded.stages[1].getAggregationStrategy() == "simple"
    assert by_id(loaded.transform(docs), "entities") == expected
    copied = stage.copy({stage.outputCol: "found"})
    assert copied.getOutputCol() == "found" and stage.getOutputCol() == "entities", "copy with extra params"


def test_the_mask_stage_masks_as_mask_udf_and_saves(spark, docs, tmp_path):
    operators = '{"PER": {"type": "replace", "new_value": "[person]"}}'
    stage = MaskRecognizer(inputCol="text", maskLabels=["PER", "LOC"], maskOperators=operators)
    expected = by_id(
        docs.withColumn("m", sparkner.mask_udf(sparkner.DEMO_MODEL, ["PER", "LOC"], operators)("text")), "m"
    )
    assert by_id(stage.transform(docs), "masked_text") == expected
    assert expected[0] == "[person] met [person] in <LOC>." and expected[1] is None and expected[2] == ""
    stage.write().overwrite().save(str(tmp_path / "mask"))
    assert by_id(MaskRecognizer.load(str(tmp_path / "mask")).transform(docs), "masked_text") == expected
