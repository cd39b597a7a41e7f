"""Spark ML pipeline stages: `EntityRecognizer` (a text column in, an entities column out) and
`MaskRecognizer` (a text column in, the text with its entities masked out), importable as
`sparkner.ml`.

Their Params are generated from the option declarations (`options.settings.OPTIONS`, and
`options.masking.MASK_OPTIONS` for masking), as the command lines' flags and the README's tables
are: each option is a camelCase Param with its help, default, setter and getter, and a bad value is
refused when set, with the option's own message. The model's access token is no Param (a Param is
saved with the pipeline): it comes from `HF_TOKEN`. Both stages save and load with the pipeline
(`DefaultParamsWritable`/`DefaultParamsReadable`) and transform through `ner_udf`/`mask_udf`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame

from sparkner.demo import MODEL_PATH
from sparkner.options.masking import MASK_OPTIONS
from sparkner.options.settings import OPTIONS, Option, comma_list


def camel_case(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _converter(declared: Option) -> Callable[[Any], Any]:
    if declared.cli_type is None:
        return TypeConverters.toBoolean
    if declared.cli_type is comma_list:
        return TypeConverters.toListString
    if declared.cli_type is int:
        return TypeConverters.toInt
    if declared.cli_type is float:
        return TypeConverters.toFloat
    return TypeConverters.toString


def declare_params(cls: type, declarations: dict[str, Option]) -> type:
    """A Param, a setter and a getter on `cls` per declared option (secrets left out)."""
    names = dict(getattr(cls, "option_names", {}))
    for name, declared in declarations.items():
        if declared.secret:
            continue
        camel = camel_case(name)
        doc = declared.help.replace("`", "") + (f" [one of: {', '.join(declared.choices)}]" if declared.choices else "")
        setattr(cls, camel, Param(Params._dummy(), camel, doc, typeConverter=_converter(declared)))
        title = camel[0].upper() + camel[1:]
        setattr(cls, f"set{title}", lambda self, value, camel=camel: self._set(**{camel: value}))
        setattr(cls, f"get{title}", lambda self, camel=camel: self.getOrDefault(camel))
        names[camel] = name
    cls.option_names = names
    return cls


class _OptionStage(Transformer, HasInputCol, HasOutputCol, DefaultParamsReadable, DefaultParamsWritable):
    """What both stages share: the model, the options as Params, validation when set. A stage lists
    the options it takes in `declarations`; their Params are made when its class is."""

    model = Param(Params._dummy(), "model", "Hub id, local directory or MLflow model URI", TypeConverters.toString)
    option_names: dict[str, str] = {}
    declarations: dict[str, Option] = OPTIONS
    default_output = "entities"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declare_params(cls, cls.declarations)

    def __init__(self, **params: Any) -> None:
        super().__init__()
        defaults = {
            camel: self.declarations[name].default
            for camel, name in self.option_names.items()
            if self.declarations[name].default is not None
        }
        self._setDefault(inputCol="text", outputCol=self.default_output, model=MODEL_PATH, **defaults)
        self._set(**params)

    def _set(self, **params: Any) -> Any:
        """Set Params, each value checked by its option's parser first (the option's message on a bad one)."""
        for camel, value in params.items():
            if camel in self.option_names and value is not None:
                self.declarations[self.option_names[camel]].parse(value)
        return super()._set(**{camel: value for camel, value in params.items() if value is not None})

    @keyword_only
    def setParams(self, **params: Any) -> Any:  # noqa: N802 - Spark ML's name
        return self._set(**self._input_kwargs)

    def setModel(self, value: str) -> Any:  # noqa: N802 - Spark ML's naming
        return self._set(model=value)

    def getModel(self) -> str:  # noqa: N802 - Spark ML's naming
        return self.getOrDefault(self.model)

    def setInputCol(self, value: str) -> Any:  # noqa: N802 - Spark ML's naming
        return self._set(inputCol=value)

    def setOutputCol(self, value: str) -> Any:  # noqa: N802 - Spark ML's naming
        return self._set(outputCol=value)

    def options(self, declarations: dict[str, Option] = OPTIONS) -> dict[str, Any]:
        """The sparkner options these Params hold (set, or defaulted from their declarations)."""
        return {
            name: self.getOrDefault(camel)
            for camel, name in self.option_names.items()
            if name in declarations and self.isDefined(camel)
        }


class EntityRecognizer(_OptionStage):
    """Named entities of `inputCol` (default "text") into `outputCol` (default "entities"), as `ner_udf`:

    >>> EntityRecognizer(model="dslim/bert-base-NER", aggregationStrategy="first")  # doctest: +SKIP
    """

    def _transform(self, dataset: DataFrame) -> DataFrame:
        from sparkner.spark.udf import ner_udf

        udf = ner_udf(self.getModel(), **self.options())
        return dataset.withColumn(self.getOutputCol(), udf(self.getInputCol()))


class MaskRecognizer(_OptionStage):
    """`inputCol` with its entities masked into `outputCol` (default "masked_text"), as `mask_udf`:
    `maskLabels` (the groups to mask), `maskOperators` (Presidio's operators as JSON text; keys from
    `key_env`/`key_file`, never in the Params) and every option of `EntityRecognizer`."""

    declarations = {**OPTIONS, **MASK_OPTIONS}
    default_output = "masked_text"

    def _transform(self, dataset: DataFrame) -> DataFrame:
        from sparkner.spark.masking import mask_udf

        masking = self.options(MASK_OPTIONS)
        udf = mask_udf(
            self.getModel(), masking.get("mask_labels"), masking.get("mask_operators"), **self.options(OPTIONS)
        )
        return dataset.withColumn(self.getOutputCol(), udf(self.getInputCol()))
