"""Build new table rows for the intake's hot path without SQLModel's constructor, and add
rows to a session without ``Session.add``'s relationship walk (``persist``).

Why: ``SQLModel.__init__`` on a table model walks every field through pydantic's and
SQLAlchemy's machinery and sets each value twice (about 40 µs per alert, a sixth of the
group-commit writer's time under a storm). A new row needs only its SQLAlchemy state and
its values in the instance's dictionary: an insert takes every value from there, and a
transient row has no history to record. Setting each column through SQLAlchemy's
instrumentation instead (the previous way) still cost a sixth of the writer's time under
a storm, in attribute events nobody listens to. A model with listeners on attribute sets
(``@validates``, mutable-type coercion) gets its values set through the instrumentation,
so those still run. Fields left out take their declared defaults, as the constructor
would give them. No validation runs in either case: SQLModel does not validate table
models.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from sqlalchemy.orm import Session, attributes, configure_mappers, instrumentation
from sqlmodel import SQLModel

RowT = TypeVar("RowT", bound=SQLModel)


def new_row(model: type[RowT], values: dict[str, Any]) -> RowT:
    """Return a new, transient row of `model` holding `values` and the other defaults."""
    unknown = values.keys() - model.model_fields.keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no field {sorted(unknown)[0]!r}")
    row: RowT = model.__new__(model)  # SQLModel's __new__ sets pydantic's private slots
    # What SQLAlchemy's generated __init__ does, minus a hasattr() that pydantic's
    # __getattr__ answers by raising (the row is new: it has no state yet).
    manager = instrumentation.manager_of_class(model)
    manager._state_setter(row, manager._state_constructor(row, manager))  # noqa: SLF001
    state: dict[str, Any] = {}
    for name, value in _defaults(model):
        if name not in values:
            state[name] = value() if callable(value) else value
    state.update(values)
    if _plain(model):
        row.__dict__.update(state)  # the instance dictionary is SQLAlchemy's state dict
    else:
        for name, value in state.items():
            attributes.set_attribute(row, name, value)
    object.__setattr__(row, "__pydantic_fields_set__", set(values))
    return row


@cache
def _plain(model: type[SQLModel]) -> bool:
    """Whether no listener watches `model`'s attributes being set (validators, coercion)."""
    configure_mappers()
    manager = instrumentation.manager_of_class(model)
    return not any(manager[name].dispatch.set for name in manager)


@cache
def _defaults(model: type[SQLModel]) -> tuple[tuple[str, Any], ...]:
    """Return (field, default or default factory) for every optional field of `model`."""
    configure_mappers()  # what a first constructor call would trigger: attributes need it
    defaults: list[tuple[str, Any]] = []
    for name, field in model.model_fields.items():
        if field.default_factory is not None:
            defaults.append((name, field.default_factory))
        elif not field.is_required():
            defaults.append((name, _constant(field.default)))
    return tuple(defaults)


def _constant(value: Any) -> Any:
    """Wrap a default that is itself callable, so ``new_row`` does not call it."""
    return (lambda: value) if callable(value) else value


def persist(session: Session, row: SQLModel) -> None:
    """Add a row to the session as ``Session.add`` does, minus its walk of the row's
    relationships when its model has none.

    Why: ``add`` looks through every property of the model for relationships to cascade
    to, 35 of them for an incident, on each of the batch's locked incidents. The intake's
    models have no relationships, so the walk finds nothing; a model with any is added the
    usual way.
    """
    state = attributes.instance_state(row)
    if state.mapper.relationships or session._warn_on_events:  # noqa: SLF001
        session.add(row)
        return
    state._orphaned_outside_of_session = False  # noqa: SLF001 (what add does first)
    session._save_or_update_impl(state)  # noqa: SLF001 (add, without the cascade walk)
