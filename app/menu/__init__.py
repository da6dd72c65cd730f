"""The menu: categories, dishes, option groups (辣度, 份量 …) and per-store sold-out flags."""
