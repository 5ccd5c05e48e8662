"""berth-shop: a price list, formatted by the prettyprice library."""
from flask import Flask, jsonify
from prettyprice import format_price

PRODUCTS = {"mug": 1250, "poster": 2900, "sticker": 150}

app = Flask(__name__)


@app.get("/")
def index():
    return jsonify(
        shop="berth-shop",
        prices={name: format_price(cents) for name, cents in PRODUCTS.items()},
    )
