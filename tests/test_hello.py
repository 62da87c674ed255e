async def test_hello_answers_here_i_am(anon):
    answer = await anon.get("/hello")
    assert answer.status_code == 200
    assert answer.text == "Here I am"
    assert answer.headers["content-type"].startswith("text/plain")


async def test_unknown_route_is_a_json_404(anon):
    answer = await anon.get("/no/such/route")
    assert answer.status_code == 404
    assert answer.json() == {"message": "No such route: GET /no/such/route"}


async def test_wrong_method_is_a_json_405(anon):
    answer = await anon.delete("/hello")
    assert answer.status_code == 405
    assert "DELETE" in answer.json()["message"]
