# File: db/managers/__init__.py
# ruff: noqa
# fmt: off
# Test fixture in the shape matrx-orm 2.x's schema builder emits (not reformatted, not linted).
from .categories import CategoriesView, CategoriesDTO, CategoriesBase
from .customers import CustomersView, CustomersDTO, CustomersBase
from .tags import TagsView, TagsDTO, TagsBase
from .customer_tags import CustomerTagsView, CustomerTagsDTO, CustomerTagsBase
from .orders import OrdersView, OrdersDTO, OrdersBase
