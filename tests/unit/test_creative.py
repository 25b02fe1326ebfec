"""Dynamic creatives: slot values, rules, assembly and the HTML, native and VAST renderers."""

from __future__ import annotations

import math
import random
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape

from kairos.creative import assembly, html, native, rules, vast
from kairos.creative.assembly import Combination
from kairos.creative.links import Links
from kairos.creative.model import Product, Slot, SlotKind, Template, Variant, Video
from kairos.creative.values import InvalidValue, check, check_template

HEADLINE = Slot(name="headline", kind=SlotKind.TEXT, default="Travel more", max_length=60)
IMAGE = Slot(name="image", kind=SlotKind.IMAGE, default="https://cdn.example/a.png", width=300)
CTA = Slot(name="cta", kind=SlotKind.TEXT, default="Book now", max_length=20)
COLOR = Slot(name="color", kind=SlotKind.COLOR, default="#0af")
DEALS = Slot(name="deals", kind=SlotKind.PRODUCTS, count=2)
BODY = (
    '<div style="color: {{ color }}"><a href="{{ click_url }}"><img src="{{ image }}">'
    "<h1>{{ headline }}</h1></a>{% for p in deals %}"
    '<a href="{{ p.click_url }}">{{ p.title }} {{ p.price | money(currency) }}</a>'
    "{% endfor %}<button>{{ cta }}</button></div>"
)
LINKS = Links(
    click="https://ads.example/v1/t/c?d=1&s=x",
    impression="https://ads.example/v1/t/i?d=1&s=x",
    viewable="https://ads.example/v1/t/v?d=1&s=x",
    event="https://ads.example/v1/t/e?d=1&s=x&n={name}",
    product_click=lambda p: f"https://ads.example/v1/t/c?d=1&u={p.id}",
)


def template(**kw: object) -> Template:
    values: dict[str, object] = {
        "id": "t1",
        "advertiser_id": "adv",
        "name": "Trips",
        "slots": [HEADLINE, IMAGE, CTA, COLOR, DEALS],
        "html": BODY,
        "native": {"title": "headline", "main_image": "image", "items": "deals"},
        "feed_id": "f1",
    }
    return Template(**(values | kw))  # type: ignore[arg-type]


def product(pid: str, **kw: object) -> Product:
    values: dict[str, object] = {
        "id": pid,
        "feed_id": "f1",
        "title": f"Trip {pid}",
        "price": 99.5,
        "landing_url": f"https://shop.example/{pid}",
    }
    return Product(**(values | kw))  # type: ignore[arg-type]


def variant(vid: str, slot: str, value: object, **kw: object) -> Variant:
    return Variant(id=vid, advertiser_id="adv", slot=slot, value=value, **kw)  # type: ignore[arg-type]


def one(t: Template, values: Mapping[str, Any]) -> Combination:
    return Combination({}, dict(values), 1.0, 0)


# -- values ------------------------------------------------------------------------------------


def test_slot_values_are_checked_and_normalised() -> None:
    assert check(COLOR, "#0AF") == "#00aaff"
    assert check(HEADLINE, "  Lisbon\nin May ") == "Lisbon in May"
    with pytest.raises(InvalidValue, match="at most 60"):
        check(HEADLINE, "x" * 61)
    for bad in ["javascript:alert(1)", "//cdn.example/a.png", "https://a b", "data:image/png,x"]:
        with pytest.raises(InvalidValue, match="URL"):
            check(IMAGE, bad)
    with pytest.raises(InvalidValue, match="at least 0"):
        check(Slot(name="p", kind=SlotKind.PRICE, default=1), -1)


def test_templates_are_checked_as_a_whole() -> None:
    check_template(template())
    with pytest.raises(InvalidValue, match="needs a default"):
        check_template(template(slots=[Slot(name="h", kind=SlotKind.TEXT)]))
    with pytest.raises(InvalidValue, match="names no slot"):
        check_template(template(native={"title": "nope"}))
    with pytest.raises(InvalidValue, match="feed_id"):
        check_template(template(feed_id=None))
    with pytest.raises(InvalidValue, match="media_url_slot"):
        check_template(template(video=Video(duration_s=15, media_url_slot="headline")))


# -- rules and assembly -----------------------------------------------------------------------


def test_variants_follow_their_rules_and_rules_come_first() -> None:
    variants = {
        "headline": [
            variant("h-eco", "headline", "Travel light on the planet", rule="interest.eco > 0.3"),
            variant("h-any", "headline", "Travel more"),
        ],
        "cta": [variant("c-vip", "cta", "Your upgrade", rule='segment == "vip"')],
    }
    t = template(slots=[HEADLINE, CTA])
    rng = random.Random(1)
    eco = assembly.combinations(t, variants, [], {"interest.eco": 0.8}, rng)
    assert {c.elements["headline"] for c in eco} == {"h-eco", "h-any"}
    assert {c.elements["cta"] for c in eco} == {"default"}  # no rule held: the slot's default
    found = assembly.assemble(t, variants, [], {"interest.eco": 0.8})
    assert found is not None
    chosen, propensity = assembly.choose(found, rng)
    assert (chosen.elements["headline"], propensity) == ("h-eco", 1.0)  # rules first
    plain = assembly.combinations(t, variants, [], {"interest.eco": 0.1, "segment": "vip"}, rng)
    assert [c.elements for c in plain] == [{"headline": "h-any", "cta": "c-vip"}]


def test_product_slots_take_the_products_the_filter_allows() -> None:
    feed = [
        product("lis", attributes={"destination": "Lisbon", "eco": True}),
        product("rom", attributes={"destination": "Rome", "eco": False}),
        product("osl", attributes={"destination": "Oslo", "eco": True}),
        product("gone", attributes={"destination": "Lisbon", "eco": True}, available=False),
    ]
    searched = template(product_filter="product.destination in searches")
    rng = random.Random(2)
    (combination,) = assembly.combinations(searched, {}, feed, {"searches": ["Rome"]}, rng)
    assert [p.id for p in combination.values["deals"]] == ["rom"]
    assert combination.elements["deals.1"] == "rom"
    green = template(product_filter="product.eco == true and interest.eco > 0.3")
    (eco,) = assembly.combinations(green, {}, feed, {"interest.eco": 0.9, "viewed": ["osl"]}, rng)
    assert [p.id for p in eco.values["deals"]] == ["osl", "lis"]  # viewed first, none gone
    assert assembly.combinations(green, {}, feed, {"interest.eco": 0.1}, rng) == []
    shelf = rules.Shelf.of(feed)  # answers are remembered per value of the names rules read
    for searched, expected in [("Rome", ["rom"]), ("Lisbon", ["lis"]), ("Rome", ["rom"])]:
        found = shelf.matching("product.destination in searches", {"searches": [searched]})
        assert [p.id for p in found] == expected
    assert shelf.matching("product.eco == true", {}) == [feed[0], feed[2]]  # "gone" is not there


def test_combinations_are_bounded_distinct_and_weighted() -> None:
    slots = [Slot(name=f"s{n}", kind=SlotKind.TEXT, default="x") for n in range(3)]
    variants = {
        f"s{n}": [variant(f"s{n}-{k}", f"s{n}", f"v{k}", weight=1 + k) for k in range(10)]
        for n in range(3)
    }
    rng = random.Random(3)
    capped = assembly.combinations(
        template(slots=slots, max_combinations=200), variants, [], {}, rng
    )
    assert len(capped) == 200
    assert len({tuple(sorted(c.elements.items())) for c in capped}) == 200
    few = assembly.combinations(
        template(slots=slots[:2], max_combinations=200), variants, [], {}, rng
    )
    assert len(few) == 100  # all of them
    found = assembly.assemble(template(slots=slots[:2], max_combinations=200), variants, [], {})
    assert found is not None
    # all of them: the same tuple for every request, in the order of the option indices
    assert found.candidates(rng) is found.candidates(random.Random(9)) is found.everything
    assert [c.elements for c in found.everything] == [c.elements for c in few]
    assert found.everything[13] is found.combination([1, 3])  # built once
    many = [Slot(name=f"m{n}", kind=SlotKind.TEXT, default="x") for n in range(25)]
    wide = {f"m{n}": [variant(f"m{n}-{k}", f"m{n}", "v") for k in range(10)] for n in range(25)}
    assert len(assembly.combinations(template(slots=many), wide, [], {}, rng)) == 200  # 10^25
    picks = Counter(assembly.choose_among(few, rng)[0].elements["s0"] for _ in range(4000))
    assert picks["s0-9"] > 5 * picks["s0-0"]  # weight 10 against weight 1
    whole = assembly.assemble(template(slots=slots), variants, [], {})
    assert whole is not None
    assert whole.size == 1000
    drawn = [assembly.choose(whole, rng) for _ in range(4000)]
    firsts = Counter(c.elements["s0"] for c, _ in drawn)
    assert firsts["s0-9"] > 5 * firsts["s0-0"]
    combination, probability = drawn[0]
    weights = [int(combination.elements[f"s{n}"].split("-")[1]) + 1 for n in range(3)]
    assert probability == pytest.approx(math.prod(w / 55 for w in weights))  # 1+2+…+10 = 55


@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=1, max_size=5),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, 2**32),
)
def test_the_draw_is_rng_choices_over_the_rules_pool(
    slots: list[list[tuple[int, bool]]], seed: int
) -> None:
    found = assembly.Assembly(
        template(),
        tuple(
            (
                Slot(name=f"s{n}", kind=SlotKind.TEXT, default="x"),
                tuple(assembly.Option(f"s{n}-{k}", "v", w, t) for k, (w, t) in enumerate(opts)),
            )
            for n, opts in enumerate(slots)
        ),
    )
    ours, reference = random.Random(seed), random.Random(seed)
    for _ in range(3):
        combination, probability = assembly.choose(found, ours)
        expected = 1.0
        for n, opts in enumerate(slots):  # the rule: targeted options first, then by weight
            pool = [k for k, (_, t) in enumerate(opts) if t] or list(range(len(opts)))
            total = sum(opts[k][0] for k in pool)
            if total <= 0:
                digit, share = pool[0], 1 / len(pool)
            else:
                digit = reference.choices(pool, [opts[k][0] for k in pool])[0]
                share = opts[digit][0] / total
            assert combination.elements[f"s{n}"] == f"s{n}-{digit}"
            expected *= share
        assert probability == pytest.approx(expected)
        again = found.combination(
            [int(combination.elements[f"s{n}"][3:]) for n in range(len(slots))]
        )
        assert again is combination  # built once per assembly


# -- renderers ---------------------------------------------------------------------------------

HOSTILE = [
    '<script>alert("x")</script>',
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)",
    "</a><iframe src=//evil.example>",
    "{0} {} }{ {{click_url}} {1!r:>9}",  # what a format or a template would read
]


@pytest.mark.parametrize("text", HOSTILE)
def test_feed_and_variant_text_cannot_inject_markup(text: str) -> None:
    deals = [product("p1", title=text), product("p2", title="x" * 500)]
    values: dict[str, Any] = {"headline": text, "cta": text}
    values |= {"image": "https://cdn.example/a.png?x=1&y=2"}
    values |= {"color": "#00aaff", "deals": deals}
    out = html.render(template(), one(template(), values), LINKS)
    tags, attributes = _markup(out)
    assert tags == {"div", "a", "img", "h1", "button"}  # the template's own, nothing else
    assert attributes == {"style", "href", "src"}  # no event handlers slipped in
    assert str(escape(text)) in out  # shown as the text it is
    assert 'src="https://cdn.example/a.png?x=1&amp;y=2"' in out
    assert 'href="https://ads.example/v1/t/c?d=1&amp;u=p1"' in out  # products click through us
    assert "99.50 EUR" in out


def _markup(document: str) -> tuple[set[str], set[str]]:
    """The element and attribute names of an HTML document, as a browser's parser sees them."""
    tags: set[str] = set()
    attributes: set[str] = set()

    class Collector(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            tags.add(tag)
            attributes.update(name for name, _ in attrs)

    Collector().feed(document)
    return tags, attributes


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_no_text_value_ever_opens_a_tag(text: str) -> None:
    t = template(html="<p title='{{ headline }}'>{{ headline }}</p>")
    out = html.render(t, one(t, {"headline": text}), LINKS)
    assert out.count("<") == 2
    assert out.count(">") == 2


def test_the_sandbox_and_the_size_limit_hold() -> None:
    sneaky = template(html="{{ headline.__class__.__mro__ }}")
    with pytest.raises(html.RenderError):
        html.render(sneaky, one(sneaky, {"headline": "x"}), LINKS)
    unknown = template(html="{{ nope }}")
    with pytest.raises(html.RenderError, match="nope"):
        html.render(unknown, one(unknown, {}), LINKS)
    with pytest.raises(html.RenderError, match="line 2"):
        html.compiled("ok\n{% for %}")
    huge = template(html="{% for i in range(100000) %}{{ headline }}{% endfor %}")
    with pytest.raises(html.RenderError, match="over"):
        html.render(huge, one(huge, {"headline": "abc"}), LINKS)


def test_native_gives_typed_fields() -> None:
    values = {"headline": "Lisbon", "image": "https://cdn.example/l.png", "deals": [product("p1")]}
    out = native.render(template(), one(template(), values), LINKS)
    assert out["fields"]["title"] == "Lisbon"
    assert out["fields"]["main_image"] == {
        "url": "https://cdn.example/l.png",
        "width": 300,
        "height": None,
    }
    assert out["fields"]["items"][0]["click_url"] == "https://ads.example/v1/t/c?d=1&u=p1"
    assert out["click_url"] == LINKS.click


def test_vast_is_a_linear_inline_ad_with_tracking() -> None:
    media = Slot(name="video", kind=SlotKind.URL, default="https://cdn.example/v.mp4?a=1&b=2")
    t = template(
        slots=[HEADLINE, media],
        video=Video(duration_s=15.5, media_url_slot="video", skip_after_s=5),
    )
    ad = vast.AdInfo(decision_id="d1", ad_id="ad1", creative_id="cr1", title="Trips & more")
    xml = vast.render(t, one(t, {"video": media.default}), LINKS, ad)
    root = ET.fromstring(xml)
    ns = {"v": vast.NAMESPACE}
    assert root.tag == f"{{{vast.NAMESPACE}}}VAST"
    assert root.get("version") == "4.2"
    inline = root.find("v:Ad/v:InLine", ns)
    assert inline is not None
    order = [child.tag.split("}")[1] for child in inline]
    assert order == [
        "AdSystem",
        "Impression",
        "ViewableImpression",
        "AdServingId",
        "AdTitle",
        "Creatives",
    ]
    assert inline.findtext("v:Impression", namespaces=ns) == LINKS.impression
    assert inline.findtext("v:AdTitle", namespaces=ns) == "Trips & more"
    linear = inline.find("v:Creatives/v:Creative/v:Linear", ns)
    assert linear is not None
    assert linear.get("skipoffset") == "00:00:05.000"
    assert linear.findtext("v:Duration", namespaces=ns) == "00:00:15.500"
    file = linear.find("v:MediaFiles/v:MediaFile", ns)
    assert file is not None
    assert file.text == "https://cdn.example/v.mp4?a=1&b=2"
    assert (file.get("delivery"), file.get("type"), file.get("width")) == (
        "progressive",
        "video/mp4",
        "1280",
    )
    events = {e.get("event"): e.text for e in linear.iterfind("v:TrackingEvents/v:Tracking", ns)}
    assert events["firstQuartile"] == "https://ads.example/v1/t/e?d=1&s=x&n=firstQuartile"
    assert linear.findtext("v:VideoClicks/v:ClickThrough", namespaces=ns) == LINKS.click
    assert "&amp;" in xml  # escaped in the document, intact once parsed
    with pytest.raises(vast.VastError):
        vast.render(template(), one(template(), {}), LINKS, ad)


def test_assemblies_are_remembered_per_value_of_what_the_rules_read() -> None:
    variants = {
        "headline": [
            variant("h-eco", "headline", "Green", rule="interest.eco > 0.3"),
            variant("h-any", "headline", "Go"),
        ]
    }
    feed = [
        product("lis", attributes={"destination": "Lisbon"}),
        product("rom", attributes={"destination": "Rome"}),
    ]
    t = template(slots=[HEADLINE, DEALS], product_filter="product.destination in searches")
    memo = assembly.Assemblies()
    cases = [
        {"interest.eco": 0.8, "searches": ["Rome"], "other": 1},
        {"interest.eco": 0.8, "searches": ["Rome"], "other": 2},  # reads the same: remembered
        {"interest.eco": 0.1, "searches": ["Rome"]},
        {"interest.eco": 0.8, "searches": ["Lisbon"], "viewed": ["lis"]},
        {"interest.eco": 0.8, "searches": ["Oslo"]},
    ]
    found = [memo.get(t, variants, feed, case) for case in cases]
    assert found[0] is found[1]
    for case, got in zip(cases, found, strict=True):
        assert got == assembly.assemble(t, variants, feed, case)
    assert found[4] is None
    assert memo.get(t, variants, feed, {"searches": {"not": "hashable"}}) is None


def _links(n: int) -> Links:
    return Links(
        click=f"https://ads.example/v1/t/c?d={n}&s=<sig{n}>",
        product_click=lambda p: f"https://ads.example/v1/t/c?d={n}&u={p.id}&s='{n}'",
    )


@pytest.mark.parametrize(
    "body",
    [
        BODY,  # URLs written out whole: remembered, URLs put in per decision
        BODY.replace("{{ click_url }}", "{{ click_url | safe }}"),  # unescaped: put in raw
        BODY.replace("{{ click_url }}", "{{ click_url[:12] }}"),  # cut: rendered in full
        BODY.replace("{{ p.click_url }}", "{{ p.click_url | upper }}"),  # changed: in full
    ],
)
def test_remembered_rendering_is_the_rendering(body: str) -> None:
    t = template(html=body, id=f"t-{hash(body)}")
    for n in range(2 * html.CHECKS):  # checked ones, then trusted ones
        deals = [product(f"p{n}"), product(f"q{n % 2}", title=HOSTILE[n % len(HOSTILE)])]
        values: dict[str, Any] = {"headline": HOSTILE[n % len(HOSTILE)], "cta": "Go"}
        values |= {"image": "https://cdn.example/a.png", "color": "#00aaff", "deals": deals}
        combination = Combination({"headline": f"h{n}", "deals.1": f"p{n}"}, values, 1.0, 0)
        for k in range(3):  # the same combination in three decisions
            links = _links(10 * n + k)
            assert html.render_memo(t, combination, links) == html.render(t, combination, links)
    remembered = [k for k, v in html._memo.items() if k[0] == id(t) and v[1] is not None]
    whole = (BODY, BODY.replace("{{ click_url }}", "{{ click_url | safe }}"))
    assert len(remembered) == (2 * html.CHECKS if body in whole else 0)
