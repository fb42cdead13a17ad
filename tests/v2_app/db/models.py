# File: db/models.py
# ruff: noqa
# fmt: off
# Test fixture in the shape matrx-orm 2.x's schema builder emits (not reformatted, not linted).
from matrx_orm import BooleanField, CharField, DateTimeField, DecimalField, EnumField, ForeignKey, IntegerField, JSONBField, Model, TextField, UUIDArrayField, UUIDField, model_registry, BaseDTO, BaseManager
from enum import Enum
from dataclasses import dataclass

class Users(Model):
    id = UUIDField(primary_key=True, null=False)
    email = CharField(null=False)

    _table_name = "users"
    _db_schema = "auth"
    _database = "v2_app"

class Categories(Model):
    id = UUIDField(primary_key=True, null=False)
    title = TextField(null=False)
    parent_id = ForeignKey(to_model='Categories', to_column='id', )
    _inverse_foreign_keys = {}
    _database = "v2_app"



class CustomerStatus(str, Enum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    BANNED = "banned"

class Customers(Model):
    id = UUIDField(primary_key=True, null=False)
    full_name = TextField(null=False)
    email = CharField(max_length=255, unique=True)
    status = EnumField(enum_class=CustomerStatus, null=False, default='active')
    metadata = JSONBField(default={})
    tags = JSONBField(default=[])
    is_vip = BooleanField(null=False, default=False)
    created_at = DateTimeField(null=False)
    _inverse_foreign_keys = {'orders': {'from_model': 'Orders', 'from_field': 'customer_id', 'referenced_field': 'id', 'related_name': 'orders'}, 'customer_tags': {'from_model': 'CustomerTags', 'from_field': 'customer_id', 'referenced_field': 'id', 'related_name': 'customer_tags'}}
    _database = "v2_app"

class Tags(Model):
    id = IntegerField(primary_key=True, null=False, default='tags_id_seq')
    label = CharField(null=False, max_length=50, unique=True)
    _inverse_foreign_keys = {'customer_tags': {'from_model': 'CustomerTags', 'from_field': 'tag_id', 'referenced_field': 'id', 'related_name': 'customer_tags'}}
    _database = "v2_app"

class CustomerTags(Model):
    customer_id = ForeignKey(to_model=Customers, to_column='id', primary_key=True, null=False)
    tag_id = ForeignKey(to_model=Tags, to_column='id', primary_key=True, null=False)
    _inverse_foreign_keys = {}
    _database = "v2_app"



class OrderStatus(str, Enum):
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"

class Orders(Model):
    id = UUIDField(primary_key=True, null=False)
    customer_id = ForeignKey(to_model=Customers, to_column='id', null=False)
    total = DecimalField(default=0)
    state = EnumField(enum_class=OrderStatus, null=False, default='pending')
    line_ids = UUIDArrayField()
    _inverse_foreign_keys = {}
    _database = "v2_app"


model_registry.register_all(
[
        Categories,
        Customers,
        Tags,
        CustomerTags,
        Orders,
        Users
    ]
)



@dataclass
class CategoriesDTO(BaseDTO):
    id: str

    @classmethod
    async def from_model(cls, model: "Model"):
        return cls(id=str(model.id))


class CategoriesManager(BaseManager):
    def __init__(self):
        super().__init__(Categories, CategoriesDTO)

    def _initialize_manager(self):
        super()._initialize_manager()

    async def _initialize_runtime_data(self, categories):
        pass
    


@dataclass
class CustomersDTO(BaseDTO):
    id: str

    @classmethod
    async def from_model(cls, model: "Model"):
        return cls(id=str(model.id))


class CustomersManager(BaseManager):
    def __init__(self):
        super().__init__(Customers, CustomersDTO)

    def _initialize_manager(self):
        super()._initialize_manager()

    async def _initialize_runtime_data(self, customers):
        pass
    


@dataclass
class TagsDTO(BaseDTO):
    id: str

    @classmethod
    async def from_model(cls, model: "Model"):
        return cls(id=str(model.id))


class TagsManager(BaseManager):
    def __init__(self):
        super().__init__(Tags, TagsDTO)

    def _initialize_manager(self):
        super()._initialize_manager()

    async def _initialize_runtime_data(self, tags):
        pass
    


@dataclass
class CustomerTagsDTO(BaseDTO):
    id: str

    @classmethod
    async def from_model(cls, model: "Model"):
        return cls(id=str(model.id))


class CustomerTagsManager(BaseManager):
    def __init__(self):
        super().__init__(CustomerTags, CustomerTagsDTO)

    def _initialize_manager(self):
        super()._initialize_manager()

    async def _initialize_runtime_data(self, customer_tags):
        pass
    


@dataclass
class OrdersDTO(BaseDTO):
    id: str

    @classmethod
    async def from_model(cls, model: "Model"):
        return cls(id=str(model.id))


class OrdersManager(BaseManager):
    def __init__(self):
        super().__init__(Orders, OrdersDTO)

    def _initialize_manager(self):
        super()._initialize_manager()

    async def _initialize_runtime_data(self, orders):
        pass
