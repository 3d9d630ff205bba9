"""The pure profile: folding orders and consents in any arrival order gives one answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from segmenter.domain.membership import compile_segments, memberships
from segmenter.domain.model import Consent, Order, OrderLine, Profile, merge_consents
from shared.segment_rules.facts import ACTIVITY_HISTORY_LIMITS

BASE = datetime(2025, 1, 1, tzinfo=UTC)

orders = st.lists(
    st.builds(
        lambda i, day, yen, cat: Order(
            order_id=f"o-{i}",
            customer_id="c",
            placed_at=BASE + timedelta(days=day),
            currency="JPY",
            total=Decimal(yen),
            lines=(OrderLine(sku="S", quantity=1, unit_price=Decimal(yen), category=cat),),
        ),
        st.integers(0, 10_000),
        st.integers(0, 700),
        st.integers(0, 50_000),
        st.sampled_from(["skincare", "haircare", None]),
    ),
    min_size=1,
    max_size=12,
)


def _fold(items: list[Order]) -> Profile:
    profile = Profile(shop_id="s", customer_id="c")
    for order in items:
        profile = profile.with_order(order)
    return profile


@given(orders, st.randoms())
def test_profile_does_not_depend_on_arrival_order(items: list[Order], rnd: object) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    a, b = _fold(items), _fold(shuffled)
    assert a == b
    assert a.order_count == len(items)
    assert a.stats.revenue == sum(o.total for o in items)
    assert a.stats.first_order_at == min(o.placed_at for o in items)
    assert a.stats.last_order_at == max(o.placed_at for o in items)
    assert a.f_stage == f"F{len(items)}"


def test_aov_is_rounded_to_yen_cents() -> None:
    p = _fold(
        [
            Order("a", "c", BASE, "JPY", Decimal(1000), ()),
            Order("b", "c", BASE, "JPY", Decimal(2001), ()),
        ]
    )
    assert p.stats.average_order_value == Decimal("1500.50")
    assert Profile("s", "c").stats.average_order_value == 0


consents = st.lists(
    st.builds(
        lambda granted, minutes, channel: Consent(
            channel, "marketing", granted, "form", BASE + timedelta(minutes=minutes)
        ),
        st.booleans(),
        st.integers(0, 10_000),
        st.sampled_from(["email", "sms"]),
    ),
    max_size=10,
    unique_by=lambda c: (c.channel, c.recorded_at),
)


@given(consents, st.randoms())
def test_latest_consent_decision_wins_in_any_order(items: list[Consent], rnd: object) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    one_by_one: tuple[Consent, ...] = ()
    for c in shuffled:
        one_by_one = merge_consents(one_by_one, (c,))
    assert one_by_one == merge_consents((), tuple(items))
    for channel in ("email", "sms"):
        mine = [c for c in items if c.channel == channel]
        if mine:
            latest = max(mine, key=lambda c: c.recorded_at)
            assert [c for c in one_by_one if c.channel == channel] == [latest]


def _order(order_id: str, at: datetime, sku: str, category: str) -> Order:
    line = OrderLine(sku=sku, quantity=1, unit_price=Decimal(1000), category=category)
    return Order(order_id, "c", at, "JPY", Decimal(1000), (line,))


def test_product_views_never_push_a_purchase_out_of_the_history() -> None:
    # Given a skincare purchase, then 500 product views in the following days
    profile = Profile("s", "c").with_order(_order("o-1", BASE, "SERUM", "skincare"))
    for i in range(500):
        profile = profile.with_view(f"SKU-{i}", "food", BASE + timedelta(days=1, minutes=i))
    segments = compile_segments(
        [
            ("skincare-90", {"activity": "bought", "category": "skincare", "within_days": 90}),
            ("browser", {"activity": "viewed", "within_days": 30, "count_gte": 300}),
        ]
    )

    # Then "bought skincare within 90 days" still holds, and the newest views are kept
    now = BASE + timedelta(days=30)
    assert memberships(profile, segments, now) == {"skincare-90", "browser"}
    viewed = [a for a in profile.activities if a.kind == "viewed"]
    assert len(viewed) == ACTIVITY_HISTORY_LIMITS["viewed"]
    assert viewed[-1].sku == "SKU-499"


def test_bought_without_a_window_means_ever_bought() -> None:
    # Given skincare bought four years ago (beyond the kept history) and haircare lately
    old = _order("o-1", BASE - timedelta(days=4 * 365), "OLD-SERUM", "skincare")
    recent = _order("o-2", BASE, "SHAMPOO", "haircare")
    profile = Profile("s", "c").with_order(old).with_order(recent)
    assert [a.category for a in profile.activities if a.kind == "bought"] == ["haircare"]
    segments = compile_segments(
        [
            ("skincare-ever", {"activity": "bought", "category": "skincare"}),
            ("serum-ever", {"activity": "bought", "sku": "OLD-SERUM"}),
            ("skincare-3y", {"activity": "bought", "category": "skincare", "within_days": 1095}),
            ("food-ever", {"activity": "bought", "category": "food"}),
        ]
    )

    # Then the all-time rules see the old purchase, the windowed one does not
    now = BASE + timedelta(days=1)
    assert memberships(profile, segments, now) == {"skincare-ever", "serum-ever"}
    # And once that order is cancelled, it is not "ever bought" any more
    refolded = profile.with_orders_refolded([recent], "o-1")
    assert memberships(refolded, segments, now) == set()
