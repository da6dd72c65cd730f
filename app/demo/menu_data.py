"""The demo restaurant's menu and floor plan, as plain data (prices in fen)."""

# (key, name, name_en, is_required, max_choices, ((choice, choice_en, price_delta_cents), ...))
OPTION_GROUPS = (
    ("spice", "辣度", "Spice level", True, 1,
     (("不辣", "Not spicy", 0), ("微辣", "Mild", 0), ("中辣", "Medium", 0), ("特辣", "Extra hot", 0))),
    ("size", "份量", "Portion", True, 1,
     (("小份", "Small", 0), ("大份", "Large", 1000))),
    ("extras", "加料", "Extras", False, 3,
     (("加煎蛋", "Fried egg", 300), ("加肉码", "Extra pork topping", 800), ("加青菜", "Greens", 200))),
    ("sweetness", "甜度", "Sweetness", False, 1,
     (("正常糖", "Regular", 0), ("少糖", "Less sugar", 0), ("无糖", "No sugar", 0))),
)

# (name, name_en)
CATEGORIES = (
    ("凉菜", "Cold dishes"),
    ("湘味小炒", "Hunan stir-fries"),
    ("热菜", "Hot dishes"),
    ("汤羹", "Soups"),
    ("主食", "Staples"),
    ("点心", "Dim sum"),
    ("饮品", "Drinks"),
    ("酒水", "Alcohol"),
    ("其他", "Others"),
)

# (category, name, name_en, price_cents, unit, station, is_discountable, option group keys)
DISHES = (
    ("凉菜", "凉拌黄瓜", "Smashed cucumber salad", 1600, "例", "cold", True, ()),
    ("凉菜", "皮蛋擂辣椒", "Century eggs with pounded green chillies", 2200, "例", "cold", True, ()),
    ("凉菜", "口味凉粉", "Spicy cold jelly noodles", 1800, "例", "cold", True, ("spice",)),
    ("凉菜", "凉拌木耳", "Wood ear mushroom salad", 1800, "例", "cold", True, ()),
    ("凉菜", "酸辣藕片", "Hot and sour lotus root", 1800, "例", "cold", True, ()),
    ("凉菜", "口水鸡", "Mouth-watering chicken", 3200, "例", "cold", True, ()),
    ("凉菜", "卤味拼盘", "Braised meat platter", 3800, "份", "cold", True, ()),
    ("湘味小炒", "辣椒炒肉", "Stir-fried pork with green chillies", 4200, "份", "hot", True, ("spice",)),
    ("湘味小炒", "小炒黄牛肉", "Stir-fried yellow beef with chillies", 6800, "份", "hot", True, ("spice",)),
    ("湘味小炒", "农家小炒肉", "Farmhouse stir-fried pork", 4600, "份", "hot", True, ("spice",)),
    ("湘味小炒", "酸豆角炒肉末", "Minced pork with pickled long beans", 3600, "份", "hot", True, ()),
    ("湘味小炒", "干锅花菜", "Dry-pot cauliflower", 3800, "份", "hot", True, ("spice",)),
    ("湘味小炒", "手撕包菜", "Hand-torn cabbage", 2800, "份", "hot", True, ()),
    ("湘味小炒", "青椒炒蛋", "Scrambled eggs with green peppers", 2800, "份", "hot", True, ()),
    ("湘味小炒", "香干炒腊肉", "Smoked pork with dried tofu", 5200, "份", "hot", True, ()),
    ("湘味小炒", "外婆菜炒蛋", "Grandma's pickled greens with egg", 3200, "份", "hot", True, ()),
    ("湘味小炒", "爆炒猪肝", "Quick-fried pork liver", 3800, "份", "hot", True, ("spice",)),
    ("湘味小炒", "小炒鸡杂", "Stir-fried chicken giblets", 4200, "份", "hot", True, ("spice",)),
    ("湘味小炒", "擂辣椒茄子", "Aubergine with pounded chillies", 3200, "份", "hot", True, ()),
    ("热菜", "剁椒鱼头", "Steamed fish head with chopped chillies", 12800, "份", "steam", True, ("spice",)),
    ("热菜", "毛氏红烧肉", "Chairman Mao's red-braised pork", 6800, "份", "hot", True, ()),
    ("热菜", "腊味合蒸", "Steamed cured meats platter", 7800, "份", "steam", True, ()),
    ("热菜", "东安子鸡", "Dong'an chicken", 6800, "份", "hot", True, ()),
    ("热菜", "啤酒鸭", "Beer-braised duck", 6800, "份", "hot", True, ("size",)),
    ("热菜", "口味虾", "Spicy crayfish", 12800, "份", "hot", True, ("spice", "size")),
    ("热菜", "干锅肥肠", "Dry-pot pork intestines", 6800, "份", "hot", True, ("spice",)),
    ("热菜", "酸菜鱼", "Fish with pickled mustard greens", 8800, "份", "hot", True, ("spice", "size")),
    ("热菜", "水煮牛肉", "Boiled beef in chilli broth", 7800, "份", "hot", True, ("spice",)),
    ("热菜", "清蒸鲈鱼", "Steamed sea bass", 8800, "条", "steam", True, ()),
    ("汤羹", "玉米排骨瓦罐汤", "Clay-pot pork rib and corn soup", 2800, "罐", "steam", True, ()),
    ("汤羹", "鱼头豆腐汤", "Fish head and tofu soup", 4800, "份", "steam", True, ()),
    ("汤羹", "莲藕排骨汤", "Lotus root and pork rib soup", 3800, "份", "steam", True, ()),
    ("汤羹", "酸辣汤", "Hot and sour soup", 2200, "份", "hot", True, ()),
    ("汤羹", "番茄蛋汤", "Tomato and egg soup", 1800, "份", "hot", True, ()),
    ("主食", "米饭", "Steamed rice", 200, "碗", "staple", True, ()),
    ("主食", "蛋炒饭", "Egg fried rice", 1800, "份", "staple", True, ()),
    ("主食", "腊肉炒饭", "Cured pork fried rice", 2800, "份", "staple", True, ()),
    ("主食", "长沙米粉", "Changsha rice noodles", 1800, "碗", "staple", True, ("extras",)),
    ("主食", "牛肉米粉", "Beef rice noodles", 2600, "碗", "staple", True, ("spice", "extras")),
    ("主食", "葱油拌面", "Scallion oil noodles", 1600, "碗", "staple", True, ("extras",)),
    ("主食", "猪油拌饭", "Lard and soy sauce rice", 1200, "碗", "staple", True, ()),
    ("主食", "手工水饺", "Handmade dumplings", 2800, "份", "staple", True, ("size",)),
    ("点心", "长沙臭豆腐", "Changsha stinky tofu", 1800, "份", "staple", True, ("spice",)),
    ("点心", "糖油粑粑", "Sugar-glazed rice cakes", 1200, "份", "staple", True, ()),
    ("点心", "红糖糍粑", "Brown sugar glutinous rice cakes", 1800, "份", "staple", True, ()),
    ("点心", "葱油饼", "Scallion pancake", 1500, "份", "staple", True, ()),
    ("点心", "荷叶糯米鸡", "Lotus leaf sticky rice chicken", 2200, "份", "steam", True, ()),
    ("点心", "小笼包", "Soup dumplings", 2200, "笼", "steam", True, ()),
    ("点心", "南瓜饼", "Pumpkin cakes", 1600, "份", "staple", True, ()),
    ("饮品", "酸梅汤", "Sour plum drink", 2800, "扎", "bar", True, ()),
    ("饮品", "鲜榨西瓜汁", "Fresh watermelon juice", 2800, "扎", "bar", True, ()),
    ("饮品", "柠檬茶", "Iced lemon tea", 1500, "杯", "bar", True, ("sweetness",)),
    ("饮品", "菊花茶", "Chrysanthemum tea", 2800, "壶", "bar", True, ("sweetness",)),
    ("饮品", "现磨豆浆", "Fresh soy milk", 800, "杯", "bar", True, ("sweetness",)),
    ("饮品", "王老吉", "Wong Lo Kat herbal tea", 800, "罐", "bar", False, ()),
    ("饮品", "可口可乐", "Coca-Cola", 600, "罐", "bar", False, ()),
    ("饮品", "椰汁", "Coconut milk", 1200, "瓶", "bar", False, ()),
    ("酒水", "青岛啤酒", "Tsingtao beer", 1200, "瓶", "bar", False, ()),
    ("酒水", "雪花啤酒", "Snow beer", 1000, "瓶", "bar", False, ()),
    ("酒水", "百威啤酒", "Budweiser", 1500, "瓶", "bar", False, ()),
    ("酒水", "红星二锅头", "Red Star Erguotou", 2500, "瓶", "bar", False, ()),
    ("酒水", "湘泉酒", "Xiangquan baijiu", 12800, "瓶", "bar", False, ()),
    ("酒水", "酒鬼酒", "Jiugui baijiu 500ml", 38800, "瓶", "bar", False, ()),
    ("酒水", "长城干红", "Great Wall dry red wine", 16800, "瓶", "bar", False, ()),
    ("其他", "茶位费", "Tea fee", 300, "位", "bar", False, ()),
    ("其他", "消毒餐具", "Sealed tableware set", 200, "套", "bar", False, ()),
)

# (name, name_en, ((code, seats), ...)) per store, in the order of the demo's stores
FLOOR_PLANS = (
    (
        ("大厅", "Hall", tuple((f"A{n:02d}", 4) for n in range(1, 13))),
        ("包间", "Private rooms", (("V1", 8), ("V2", 8), ("V3", 10), ("V4", 10))),
    ),
    (
        ("大厅", "Hall", (("A01", 4), ("A02", 4), ("A03", 4), ("A04", 6))),
        ("包间", "Private rooms", (("V1", 8), ("V2", 10))),
    ),
)

# Each kitchen station's display name (code, 中文, English), in the order the kitchen lists them.
STATIONS = (("hot", "热菜档", "Wok"), ("cold", "凉菜档", "Cold kitchen"), ("steam", "蒸菜档", "Steamers"),
            ("staple", "主食档", "Rice and noodles"), ("bar", "水吧", "Bar"))
