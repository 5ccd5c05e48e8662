from app import app


def test_prices():
    answer = app.test_client().get("/").get_json()
    assert answer["prices"]["mug"] == "12.50 EUR"
