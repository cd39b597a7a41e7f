"""Sentences written here in American business and political style, rich in the shapes where an
entity ends at an abbreviation's period followed by more punctuation ("Corp.,", "Ill.,", "Co.;",
"Corp.'s", "U.S.''", "Jr.,"), and in entities with punctuation inside ("J.R. Smith", "U.S.-based",
"Smith & Sons Co."). Entities are marked `[LABEL text]`; `EDGE_TEXTS` holds them as gold spans."""

from __future__ import annotations

import re

from oracle import GoldText

MARKED = [
    "[ORG Acme Corp.], which makes anvils, said profits rose.",
    "Officials in [LOC Springfield], [LOC Ill.], said the plant would close.",
    "The deal values [ORG Smith & Sons Co.]; the shares fell.",
    "[ORG Globex Corp.]'s chief executive resigned on Monday.",
    'He said the policy "hurts the [LOC U.S.]" and left the room.',
    '"We are proud of the [LOC U.S.]," the senator said.',
    "[PER Sammy Davis Jr.], who sang, was honored in [LOC Las Vegas].",
    "[PER J.R. Smith] scored 30 points for [ORG New York].",
    "The [MISC U.S.]-based lender cut 400 jobs.",
    "Shares of [ORG International Business Machines Corp.] rose 2%.",
    "[ORG Johnson & Johnson Inc.], [ORG Pfizer Inc.] and [ORG Merck & Co.] reported earnings.",
    "The company moved from [LOC Wilmington], [LOC Del.], to [LOC Austin], [LOC Texas].",
    "[PER Martin Luther King Jr.]'s speech was read aloud.",
    "[ORG Dow Jones & Co.]; [ORG News Corp.]; and [ORG Time Warner Inc.] bid for the paper.",
    "Residents of [LOC St. Louis], [LOC Mo.], voted against the plan.",
    "[PER Dr. Anthony Fauci], who led [ORG NIAID], testified.",
    "The firm ([ORG Goldman Sachs Group Inc.]) declined to comment.",
    '"[ORG Apple Inc.]," she said, "is not for sale."',
    "[PER George W. Bush] met [PER Tony Blair] in [LOC Washington], [LOC D.C.], on Friday.",
    "[ORG Wal-Mart Stores Inc.]'s sales beat forecasts.",
    "Analysts at [ORG Morgan Stanley & Co.], [ORG Citigroup Inc.], and others agreed.",
    "The [ORG U.S. Securities and Exchange Commission] fined [ORG Enron Corp.].",
    "[PER Robert F. Kennedy Jr.]; [PER John F. Kennedy]; and [PER Ted Kennedy] were named.",
    "Plants in [LOC Gary], [LOC Ind.]; [LOC Flint], [LOC Mich.]; and [LOC Toledo], [LOC Ohio], shut.",
    "[ORG General Electric Co.]'s board met in [LOC Fairfield], [LOC Conn.].",
    'A spokesman for [ORG Exxon Mobil Corp.] said: "No comment."',
    "The bill passed the [ORG U.S. Senate], 52-48.",
    "[PER E.J. Dionne] wrote about [PER H.W. Bush]'s legacy.",
    "The [MISC U.K.]-listed miner agreed to buy [ORG Peabody Energy Corp.], a [MISC U.S.] rival.",
    "[ORG Procter & Gamble Co.], based in [LOC Cincinnati], raised prices.",
    "Investors sold [ORG Tesla Inc.]; [ORG Ford Motor Co.] gained.",
    '"The [LOC U.S.]," he wrote, "must lead."',
    "[PER William H. Gates III], [ORG Microsoft Corp.]'s founder, spoke in [LOC Redmond], [LOC Wash.].",
    "Talks between [ORG AT&T Inc.] and [ORG T-Mobile US Inc.] collapsed.",
    "The [ORG New York Times Co.]'s profit fell.",
    "[PER Mr. Smith], 54, joined [ORG Lehman Brothers Holdings Inc.] in 1998.",
    "She grew up in [LOC Bethesda], [LOC Md.], and studied at [ORG Harvard University].",
    "Sales at [ORG Home Depot Inc.] (up 4%) and [ORG Lowe's Cos.] (up 3%) rose.",
    "[ORG Berkshire Hathaway Inc.]'s annual meeting drew 40,000 people to [LOC Omaha], [LOC Neb.].",
    "Former [LOC U.S.] ambassador [PER L. Paul Bremer III] criticized the plan.",
]


def parse(marked: str, index: int) -> GoldText:
    """A marked sentence as its text and gold spans."""
    text, spans, position = "", [], 0
    for match in re.finditer(r"\[([A-Z]+) ([^\]]+)\]", marked):
        text += marked[position : match.start()]
        start = len(text)
        text += match.group(2)
        spans.append((start, len(text), match.group(1)))
        position = match.end()
    text += marked[position:]
    return GoldText(f"edge-{index}", text, tuple(spans))


EDGE_TEXTS = [parse(marked, i) for i, marked in enumerate(MARKED)]
