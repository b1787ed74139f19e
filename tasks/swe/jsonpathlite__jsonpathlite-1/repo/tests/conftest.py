import copy

import pytest

STORE = {
    "store": {
        "book": [
            {"title": "Sayings", "author": "Rees", "price": 8.95, "tags": ["quotes"]},
            {"title": "Sword", "author": "Waugh", "price": 12.99},
            {"title": "Moby Dick", "author": "Melville", "price": 8.99, "isbn": "0-553-21311-3"},
            {"title": "Rings", "author": "Tolkien", "price": 22.99, "isbn": "0-395-19395-8"},
        ],
        "bicycle": {"color": "red", "price": 19.95},
    },
    "expensive": 10,
}


@pytest.fixture
def store():
    return copy.deepcopy(STORE)
