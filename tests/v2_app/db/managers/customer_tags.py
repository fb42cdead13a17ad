# File: db/managers/customer_tags.py
# ruff: noqa
# fmt: off
# Test fixture in the shape matrx-orm 2.x's schema builder emits (not reformatted, not linted).

from dataclasses import dataclass
from typing import Any

from matrx_orm import BaseManager, BaseDTO, ModelView
from matrx_utils import vcprint

from v2_app.db.models import CustomerTags


# ---------------------------------------------------------------------------
# View: what a load attaches to each CustomerTags instance when the manager uses it
# (prefetched relations, computed fields, hidden or inlined columns).
# Switch it on with view_class = CustomerTagsView, or CustomerTagsBase(view_class=CustomerTagsView).
# With a view in place the DTO below is not built.
# ---------------------------------------------------------------------------

class CustomerTagsView(ModelView):
    """
    Projection of CustomerTags rows.

    prefetch  -- relations loaded together with every row
    exclude   -- columns left out of to_dict()
    inline_fk -- foreign key column -> key under which its row replaces it

    Every public async method taking (self, model) becomes a computed field:

        async def label(self, model: CustomerTags) -> str:
            return str(model.pk)
    """

    prefetch: list = []
    exclude: list = []
    inline_fk: dict = {}

    # ------------------------------------------------------------------ #
    # Computed fields go here. A failing one is reported with a warning  #
    # and stored as None; the row still loads.                           #
    # ------------------------------------------------------------------ #


# ---------------------------------------------------------------------------
# DTO: built for every row when no view is set, reachable as item.dto.
# Fill it in _process_core_data / _process_metadata.
# ---------------------------------------------------------------------------

@dataclass
class CustomerTagsDTO(BaseDTO):
    id: str

    async def _initialize_dto(self, model):
        '''Copy what the DTO needs from the row.'''
        self.id = str(model.id)
        await self._process_core_data(model)
        await self._process_metadata(model)
        await self._initial_validation(model)
        self.initialized = True

    async def _process_core_data(self, model):
        '''Main values taken from the row.'''
        pass

    async def _process_metadata(self, model):
        '''Secondary values taken from the row.'''
        pass

    async def _initial_validation(self, model):
        '''Checks run while the DTO is built.'''
        pass

    async def _final_validation(self):
        '''Checks run before the DTO is handed out.'''
        return True

    async def get_validated_dict(self):
        '''The DTO as a dict, after the final checks.'''
        validated = await self._final_validation()
        return self.to_dict()


# ---------------------------------------------------------------------------
# Manager base: CRUD, relation and active-item wrappers named after the
# table. The DTO is used unless a view class is given, either here
# (view_class = CustomerTagsView) or as CustomerTagsBase(view_class=CustomerTagsView).
# ---------------------------------------------------------------------------

class CustomerTagsBase(BaseManager[CustomerTags]):
    view_class = None  # no view: each row gets a CustomerTagsDTO; set CustomerTagsView to use the view

    def __init__(
        self,
        dto_class: type[Any] | None = None,
        view_class: type[Any] | None = None,
    ):
        if view_class is not None:
            self.view_class = view_class
        super().__init__(CustomerTags, dto_class=dto_class or CustomerTagsDTO)

    def _initialize_manager(self):
        super()._initialize_manager()

    async def _initialize_runtime_data(self, item: CustomerTags) -> None:
        pass

    async def create_customer_tags(self, **data):
        return await self.create_item(**data)

    async def delete_customer_tags(self, id):
        return await self.delete_item(id)

    async def get_customer_tags_with_all_related(self, id):
        return await self.get_item_with_all_related(id)

    async def load_customer_tags_by_id(self, id):
        return await self.load_by_id(id)

    async def load_customer_tags(self, use_cache=True, **kwargs):
        return await self.load_item(use_cache, **kwargs)

    async def update_customer_tags(self, id, **updates):
        return await self.update_item(id, **updates)

    async def load_customer_tag(self, **kwargs):
        return await self.load_items(**kwargs)

    async def filter_customer_tag(self, **kwargs):
        return await self.filter_items(**kwargs)

    async def get_or_create(self, defaults=None, **kwargs):
        return await self.get_or_create(defaults, **kwargs)

    async def get_customer_tags_with_customers(self, id):
        return await self.get_item_with_related(id, 'customers')

    async def get_customer_tag_with_customers(self):
        return await self.get_items_with_related('customers')

    async def get_customer_tags_with_tags(self, id):
        return await self.get_item_with_related(id, 'tags')

    async def get_customer_tag_with_tags(self):
        return await self.get_items_with_related('tags')

    async def get_active_customer_tag_with_customers(self):
        return await self.get_active_items_with_one_relation('customers')

    async def get_active_customer_tags_with_customers(self):
        return await self.get_active_item_with_one_relation('customers')

    async def get_active_customer_tags_with_through_customers(self, id, second_relationship):
        return await self.get_active_item_with_through_fk(id, 'customers', second_relationship)

    async def get_active_customer_tag_with_tags(self):
        return await self.get_active_items_with_one_relation('tags')

    async def get_active_customer_tags_with_tags(self):
        return await self.get_active_item_with_one_relation('tags')

    async def get_active_customer_tags_with_through_tags(self, id, second_relationship):
        return await self.get_active_item_with_through_fk(id, 'tags', second_relationship)

    async def load_customer_tag_by_customer_id(self, customer_id):
        return await self.load_items(customer_id=customer_id)

    async def filter_customer_tag_by_customer_id(self, customer_id):
        return await self.filter_items(customer_id=customer_id)

    async def load_customer_tag_by_tag_id(self, tag_id):
        return await self.load_items(tag_id=tag_id)

    async def filter_customer_tag_by_tag_id(self, tag_id):
        return await self.filter_items(tag_id=tag_id)

    async def add_active_customer_tags_by_id(self, id):
        return await self.add_active_by_id(id)

    async def add_active_customer_tags_by_ids(self, ids):
        return await self.add_active_by_ids(ids)

    async def get_active_customer_tags(self, id):
        return await self.get_active_item(id)

    async def get_active_customer_tag(self):
        return await self.get_active_items()

    async def get_active_customer_tag_with_all_related(self):
        return await self.get_active_items_with_all_related()

    async def get_active_customer_tag_with_fks(self):
        return await self.get_active_items_with_fks()

    async def get_active_customer_tag_with_ifks(self):
        return await self.get_active_items_with_ifks()

    async def get_active_customer_tag_with_related_models_list(self, related_models_list):
        return await self.get_active_items_with_related_models_list(related_models_list)

    async def get_active_customer_tags_through_ifk(self, id, first_relationship, second_relationship):
        return await self.get_active_item_through_ifk(id, first_relationship, second_relationship)

    async def get_active_customer_tags_with_all_related(self):
        return await self.get_active_item_with_all_related()

    async def get_active_customer_tags_with_fk(self, id, related_model):
        return await self.get_active_item_with_fk(id, related_model)

    async def get_active_customer_tags_with_ifk(self, related_model):
        return await self.get_active_item_with_ifk(related_model)

    async def get_active_customer_tags_with_related_models_list(self, related_models_list):
        return await self.get_active_item_with_related_models_list(related_models_list)

    async def get_active_customer_tags_with_through_fk(self, id, first_relationship, second_relationship):
        return await self.get_active_item_with_through_fk(id, first_relationship, second_relationship)

    async def remove_active_customer_tags_by_id(self, id):
        await self.remove_active_by_id(id)

    async def remove_active_customer_tags_by_ids(self, ids):
        await self.remove_active_by_ids(ids)

    async def remove_all_active(self):
        await self.remove_all_active()

    async def add_active_customer_tags_by_id_or_not(self, id=None):
        return await self.add_active_by_id_or_not(id)

    async def add_active_customer_tags_by_ids_or_not(self, ids=None):
        return await self.add_active_by_ids_or_not(ids)

    async def add_active_customer_tags_by_item_or_not(self, customer_tags=None):
        return await self.add_active_by_item_or_not(customer_tags)

    async def add_active_customer_tags_by_items_or_not(self, customer_tag=None):
        return await self.add_active_by_items_or_not(customer_tag)

    async def create_customer_tags_get_dict(self, **data):
        return await self.create_item_get_dict(**data)

    async def filter_customer_tag_get_dict(self, **kwargs):
        return await self.filter_items_get_dict(**kwargs)

    async def get_active_customer_tags_dict(self, id):
        return await self.get_active_item_dict(id)

    async def get_active_customer_tag_dict(self):
        return await self.get_active_items_dict()

    async def get_active_customer_tag_with_all_related_dict(self):
        return await self.get_active_items_with_all_related_dict()

    async def get_active_customer_tag_with_ifks_dict(self):
        return await self.get_active_items_with_ifks_dict()

    async def get_customer_tags_dict(self, id):
        return await self.get_item_dict(id)

    async def get_customer_tag_dict(self, **kwargs):
        return await self.get_items_dict(**kwargs)

    async def get_customer_tag_with_all_related_dict(self):
        return await self.get_items_with_all_related_dict()

    async def load_customer_tags_get_dict(self, use_cache=True, **kwargs):
        return await self.load_item_get_dict(use_cache, **kwargs)

    async def load_customer_tag_by_ids_get_dict(self, ids):
        return await self.load_items_by_ids_get_dict(ids)

    async def update_customer_tags_get_dict(self, id, **updates):
        return await self.update_item_get_dict(id, **updates)

    async def get_active_customer_tags_with_customers_dict(self):
        return await self.get_active_item_with_one_relation_dict('customers')

    async def get_customer_tag_with_customers_dict(self):
        return await self.get_items_with_related_dict('customers')

    async def get_active_customer_tags_with_tags_dict(self):
        return await self.get_active_item_with_one_relation_dict('tags')

    async def get_customer_tag_with_tags_dict(self):
        return await self.get_items_with_related_dict('tags')

    async def load_customer_tag_by_ids(self, ids):
        return await self.load_items_by_ids(ids)

    def add_computed_field(self, field):
        self.add_computed_field(field)

    def add_relation_field(self, field):
        self.add_relation_field(field)

    @property
    def active_customer_tags_ids(self):
        return self.active_item_ids


class CustomerTagsManager(CustomerTagsBase):
    _instance = None

    def __new__(cls, *args, **kwargs):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __init__(self):
        super().__init__()

    async def _initialize_runtime_data(self, item: CustomerTags) -> None:
        pass

customer_tags_manager_instance = CustomerTagsManager()
