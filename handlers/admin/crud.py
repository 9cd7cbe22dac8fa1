"""Generic admin pages for one kind of record: list (search, paging), detail, new, edit, delete
with a confirmation step. Each entity module describes itself with an ``Entity`` and, where it
needs to, overrides a hook (form to repository fields, record to form data, detail context)."""

from __future__ import annotations

import dataclasses
from typing import Any, Awaitable, Callable

from handlers.base import BaseHandler
from handlers.forms import SpanishForm
from repositories import Repositories
from repositories.errors import Conflict, DomainError, MissingReference, StillReferenced

PER_PAGE = 20


@dataclasses.dataclass(frozen=True)
class Entity:
    """How the generic pages talk about and store one kind of record."""

    slug: str  # URL segment and template folder: "personas"
    singular: str  # "persona"
    plural: str  # "Personas"
    new_title: str  # "Nueva persona"
    form: type[SpanishForm]
    repository: Callable[[Repositories], Any]
    label: Callable[[Any], str]  # how a record is named in messages
    # Hooks with sensible defaults, overridden where an entity needs more.
    to_fields: Callable[[BaseHandler, SpanishForm], Awaitable[dict[str, Any]]] | None = None
    to_form_data: Callable[[BaseHandler, Any], Awaitable[dict[str, Any]]] | None = None
    detail_context: Callable[[BaseHandler, Any], Awaitable[dict[str, Any]]] | None = None
    new_form_data: Callable[[BaseHandler], Awaitable[dict[str, Any]]] | None = None
    list_context: Callable[[BaseHandler, Any], Awaitable[dict[str, Any]]] | None = None
    # The list where the records that block a delete are found (searched by the names it reports).
    references_path: str | None = None

    @property
    def path(self) -> str:
        return f"/admin/{self.slug}/"

    def url(self, record_id: str, action: str = "") -> str:
        return f"{self.path}{record_id}" + (f"/{action}" if action else "")

    def routes(self) -> list[tuple[str, type, dict[str, Any]]]:
        options = {"entity": self}
        ident = r"([^/]+)"
        return [
            (rf"/admin/{self.slug}/?", ListHandler, options),
            (rf"/admin/{self.slug}/nuevo", NewHandler, options),
            (rf"/admin/{self.slug}/{ident}", DetailHandler, options),
            (rf"/admin/{self.slug}/{ident}/editar", EditHandler, options),
            (rf"/admin/{self.slug}/{ident}/borrar", DeleteHandler, options),
        ]


async def default_to_fields(handler: BaseHandler, form: SpanishForm) -> dict[str, Any]:
    return dict(form.data)


async def default_to_form_data(handler: BaseHandler, record: Any) -> dict[str, Any]:
    return dataclasses.asdict(record)


async def no_context(handler: Any, *args: Any) -> dict[str, Any]:
    return {}


class EntityHandler(BaseHandler):
    def initialize(self, entity: Entity) -> None:  # type: ignore[override]
        super().initialize()
        self.entity = entity

    @property
    def repository(self) -> Any:
        return self.entity.repository(self.repos)

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace["entity"] = self.entity
        return namespace

    def render_form(self, form: SpanishForm, *, title: str, action: str, cancel: str, status: int = 200, error: str | None = None) -> None:
        self.set_status(status)
        self.render("form.html", form=form, title=title, action=action, cancel=cancel, error=error)

    async def save(self, form: SpanishForm, write: Callable[[dict[str, Any]], Awaitable[Any]]) -> Any | None:
        """Validate the form and write it. On a refusal, attach the message to its field (or to
        the whole form) and return None, so the caller re-renders with the user's values."""
        if not form.validate():
            return None
        try:
            fields = await (self.entity.to_fields or default_to_fields)(self, form)
            return await write(fields)
        except (Conflict, MissingReference) as error:
            field = getattr(form, error.field, None) if error.field else None
            if field is not None:
                field.errors = [*field.errors, error.message]
            else:
                form.form_errors.append(error.message)
            return None


class ListHandler(EntityHandler):
    async def get(self) -> None:
        q = self.get_query_argument("q", "").strip()[:100]
        page = await self.repository.search(q=q, page=self.page_argument(), per_page=PER_PAGE)
        context = await (self.entity.list_context or no_context)(self, page)
        self.render(f"{self.entity.slug}/list.html", page=page, q=q, **context)


class NewHandler(EntityHandler):
    async def get(self) -> None:
        initial = await (self.entity.new_form_data or no_context)(self)
        form = self.entity.form(data=initial or None)
        self.render_form(form, title=self.entity.new_title, action=f"{self.entity.path}nuevo", cancel=self.entity.path)

    async def post(self) -> None:
        form = self.entity.form.from_request(self)
        record = await self.save(form, lambda fields: self.repository.create(**fields))
        if record is None:
            self.render_form(form, title=self.entity.new_title, action=f"{self.entity.path}nuevo", cancel=self.entity.path, status=400)
            return
        self.flash(f"Se creó {self.entity.singular} {self.entity.label(record)}.")
        self.redirect(self.entity.url(record.id))


class DetailHandler(EntityHandler):
    async def get(self, record_id: str) -> None:
        record = await self.repository.get(record_id)
        context = await (self.entity.detail_context or no_context)(self, record)
        self.render(f"{self.entity.slug}/detail.html", record=record, **context)


class EditHandler(EntityHandler):
    def _title(self, record: Any) -> str:
        return f"Editar {self.entity.singular} {self.entity.label(record)}"

    async def get(self, record_id: str) -> None:
        record = await self.repository.get(record_id)
        data = await (self.entity.to_form_data or default_to_form_data)(self, record)
        form = self.entity.form(data=data)
        self.render_form(form, title=self._title(record), action=self.entity.url(record.id, "editar"), cancel=self.entity.url(record.id))

    async def post(self, record_id: str) -> None:
        record = await self.repository.get(record_id)
        form = self.entity.form.from_request(self)
        updated = await self.save(form, lambda fields: self.repository.update(record.id, **fields))
        if updated is None:
            self.render_form(
                form, title=self._title(record), action=self.entity.url(record.id, "editar"), cancel=self.entity.url(record.id), status=400
            )
            return
        singular = self.entity.singular  # Spanish contracts "de el" to "del"
        of_the = f"del {singular[3:]}" if singular.startswith("el ") else f"de {singular}"
        self.flash(f"Se guardaron los cambios {of_the} {self.entity.label(updated)}.")
        self.redirect(self.entity.url(updated.id))


class DeleteHandler(EntityHandler):
    def _confirm(self, record: Any, *, error: DomainError | None = None, status: int = 200) -> None:
        self.set_status(status)
        self.render(
            "confirm_delete.html",
            record=record,
            label=self.entity.label(record),
            error=error.message if error else None,
            references=getattr(error, "references", []),
        )

    async def get(self, record_id: str) -> None:
        self._confirm(await self.repository.get(record_id))

    async def post(self, record_id: str) -> None:
        record = await self.repository.get(record_id)
        try:
            await self.repository.delete(record.id)
        except StillReferenced as error:
            self._confirm(record, error=error, status=409)
            return
        self.flash(f"Se borró {self.entity.singular} {self.entity.label(record)}.")
        self.redirect(self.entity.path)

