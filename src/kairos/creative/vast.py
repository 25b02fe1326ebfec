"""VAST 4.2 rendering: a linear video creative for video and CTV placements.

One `<Ad>` with an `<InLine>`: the ad system, the signed impression URL, the decision id as
`AdServingId`, the title, and one `<Creative>` with its `UniversalAdId` and a `<Linear>`: the
duration (and skip offset), the quartile tracking events (custom events of the decision,
`n=start`, `n=firstQuartile`, …), the media file from the template's video slot, and the signed
click URL as `ClickThrough`. The viewable-impression URL goes in `ViewableImpression`. Element
order follows the IAB VAST 4.2 schema; text is XML-escaped by the serializer.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from kairos import __version__
from kairos.creative.assembly import Combination
from kairos.creative.links import Links
from kairos.creative.model import Template

VERSION = "4.2"
NAMESPACE = "http://www.iab.com/VAST"
EVENTS = ("start", "firstQuartile", "midpoint", "thirdQuartile", "complete", "skip", "pause")


class VastError(ValueError):
    """The template cannot be rendered as VAST (no video)."""


@dataclass(frozen=True)
class AdInfo:
    decision_id: str
    ad_id: str
    creative_id: str
    title: str
    advertiser: str | None = None


def render(template: Template, combination: Combination, links: Links, ad: AdInfo) -> str:
    video = template.video
    if video is None:
        raise VastError(f"template {template.id} has no video")
    media_url = combination.values.get(video.media_url_slot)
    if not isinstance(media_url, str) or not media_url:
        raise VastError(f"template {template.id}: no media URL in slot {video.media_url_slot!r}")
    root = ET.Element("VAST", {"version": VERSION, "xmlns": NAMESPACE})
    inline = ET.SubElement(ET.SubElement(root, "Ad", {"id": ad.decision_id}), "InLine")
    _text(inline, "AdSystem", "Kairos", version=__version__)
    _text(inline, "Impression", links.impression, id="kairos")
    if links.viewable:
        viewable = ET.SubElement(inline, "ViewableImpression", {"id": "kairos"})
        _text(viewable, "Viewable", links.viewable)
    _text(inline, "AdServingId", ad.decision_id)
    _text(inline, "AdTitle", ad.title)
    if ad.advertiser:
        _text(inline, "Advertiser", ad.advertiser)
    creative = ET.SubElement(
        ET.SubElement(inline, "Creatives"), "Creative", {"id": ad.creative_id, "adId": ad.ad_id}
    )
    _text(creative, "UniversalAdId", ad.creative_id, idRegistry="Kairos")
    attributes = {"skipoffset": timecode(video.skip_after_s)} if video.skip_after_s else {}
    linear = ET.SubElement(creative, "Linear", attributes)
    if links.event:
        events = ET.SubElement(linear, "TrackingEvents")
        for name in EVENTS:
            _text(events, "Tracking", links.event_named(name), event=name)
    _text(linear, "Duration", timecode(video.duration_s))
    media = {
        "delivery": "progressive",
        "type": video.mime_type,
        "width": str(video.width),
        "height": str(video.height),
    }
    if video.bitrate_kbps:
        media["bitrate"] = str(video.bitrate_kbps)
    _text(ET.SubElement(linear, "MediaFiles"), "MediaFile", media_url, **media)
    _text(ET.SubElement(linear, "VideoClicks"), "ClickThrough", links.click, id="kairos")
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}'


def timecode(seconds: float) -> str:
    """`HH:MM:SS.mmm`, as VAST writes durations and offsets."""
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    element.text = text
    return element
