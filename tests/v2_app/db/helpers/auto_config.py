# File: db/helpers/auto_config.py
# ruff: noqa
# fmt: off
# Test fixture in the shape matrx-orm 2.x's schema builder emits (not reformatted, not linted).
categories_auto_config = {'models_module_path': 'v2_app.db.models', 'model_pascal': 'Categories', 'model_name': 'categories', 'model_name_plural': 'category', 'model_name_snake': 'categories', 'relations': ['self_reference'], 'filter_fields': ['parent_id'], 'include_core_relations': True, 'include_active_relations': True, 'include_filter_fields': True, 'include_active_methods': True, 'include_or_not_methods': True, 'include_to_dict_methods': True, 'include_to_dict_relations': True, 'm2m_relations': None, 'view_prefetch': []}


customers_auto_config = {'models_module_path': 'v2_app.db.models', 'model_pascal': 'Customers', 'model_name': 'customers', 'model_name_plural': 'customer', 'model_name_snake': 'customers', 'relations': ['orders', 'customer_tags'], 'filter_fields': ['status', 'tags'], 'include_core_relations': True, 'include_active_relations': True, 'include_filter_fields': True, 'include_active_methods': True, 'include_or_not_methods': True, 'include_to_dict_methods': True, 'include_to_dict_relations': True, 'm2m_relations': None, 'view_prefetch': []}


tags_auto_config = {'models_module_path': 'v2_app.db.models', 'model_pascal': 'Tags', 'model_name': 'tags', 'model_name_plural': 'tag', 'model_name_snake': 'tags', 'relations': ['customer_tags'], 'filter_fields': [], 'include_core_relations': True, 'include_active_relations': True, 'include_filter_fields': True, 'include_active_methods': True, 'include_or_not_methods': True, 'include_to_dict_methods': True, 'include_to_dict_relations': True, 'm2m_relations': None, 'view_prefetch': []}


customer_tags_auto_config = {'models_module_path': 'v2_app.db.models', 'model_pascal': 'CustomerTags', 'model_name': 'customer_tags', 'model_name_plural': 'customer_tag', 'model_name_snake': 'customer_tags', 'relations': ['customers', 'tags'], 'filter_fields': ['customer_id', 'tag_id'], 'include_core_relations': True, 'include_active_relations': True, 'include_filter_fields': True, 'include_active_methods': True, 'include_or_not_methods': True, 'include_to_dict_methods': True, 'include_to_dict_relations': True, 'm2m_relations': None, 'view_prefetch': []}


orders_auto_config = {'models_module_path': 'v2_app.db.models', 'model_pascal': 'Orders', 'model_name': 'orders', 'model_name_plural': 'order', 'model_name_snake': 'orders', 'relations': ['customers'], 'filter_fields': ['customer_id', 'state', 'line_ids'], 'include_core_relations': True, 'include_active_relations': True, 'include_filter_fields': True, 'include_active_methods': True, 'include_or_not_methods': True, 'include_to_dict_methods': True, 'include_to_dict_relations': True, 'm2m_relations': None, 'view_prefetch': []}
