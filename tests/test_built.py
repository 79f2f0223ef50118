"""``recommendation.built`` gives what pydantic's ``model_construct`` gives, for every result model.

The explanation constructs results from valid parts with ``built`` (faster); a
result built so must be indistinguishable from one pydantic constructs: equal,
the same dump, repr and fields set, defaults filled where a field is not given.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from fbss_pathway import PatientRecord, evaluate, recommendation
from fbss_pathway.cli import example_paths
from fbss_pathway.recommendation import built

RESULT_MODELS = sorted(
    (
        model
        for name in recommendation.__all__
        if isinstance(model := getattr(recommendation, name), type) and issubclass(model, BaseModel)
    ),
    key=lambda model: model.__name__,
)


def _parts(value: Any) -> list[BaseModel]:
    """Every result model inside a result, itself included."""
    if isinstance(value, BaseModel):
        return [value, *(part for item in value.__dict__.values() for part in _parts(item))]
    if isinstance(value, tuple | list):
        return [part for item in value for part in _parts(item)]
    return []


@pytest.fixture(scope="module")
def examples() -> list[BaseModel]:
    parts: list[BaseModel] = []
    for path in example_paths():
        record = PatientRecord.model_validate_json(path.read_bytes())
        parts += _parts(evaluate(record))  # the ladder view too: every model appears
    return parts


def _same(a: BaseModel, b: BaseModel) -> None:
    assert type(a) is type(b)
    assert a == b
    assert repr(a) == repr(b)
    assert a.model_dump() == b.model_dump()
    assert a.model_dump_json() == b.model_dump_json()
    assert a.model_fields_set == b.model_fields_set
    assert list(a.__dict__) == list(b.__dict__)  # the fields' own order


def _instances(model: type[BaseModel], examples: list[BaseModel], most: int) -> list[BaseModel]:
    """Up to ``most`` instances of the model from the examples (every model has some)."""
    instances = [part for part in examples if type(part) is model][:most]
    assert instances, f"no {model.__name__} in the examples"
    return instances


def test_every_result_model_appears_in_the_examples(examples: list[BaseModel]) -> None:
    seen = {type(part) for part in examples}
    assert set(RESULT_MODELS) <= seen


@pytest.mark.parametrize("model", RESULT_MODELS, ids=lambda model: model.__name__)
def test_built_from_every_field_is_what_pydantic_constructs(
    model: type[BaseModel], examples: list[BaseModel]
) -> None:
    for instance in _instances(model, examples, 50):
        values = dict(instance.__dict__)
        _same(built(model, **values), model.model_construct(**values))  # type: ignore[type-var]
        reversed_order = dict(reversed(list(values.items())))  # any order of keywords
        _same(built(model, **reversed_order), model.model_construct(**reversed_order))  # type: ignore[type-var]


@pytest.mark.parametrize("model", RESULT_MODELS, ids=lambda model: model.__name__)
def test_fields_not_given_take_their_defaults_and_are_not_set(
    model: type[BaseModel], examples: list[BaseModel]
) -> None:
    required = {name for name, field in model.model_fields.items() if field.is_required()}
    for instance in _instances(model, examples, 5):
        values = {name: value for name, value in instance.__dict__.items() if name in required}
        made = built(model, **values)  # type: ignore[type-var]
        _same(made, model.model_construct(**values))
        assert made.model_fields_set == required
