"""Build the PDFs of the bundled demo corpus (ragkit/demo_corpus/) from the HTML below.

The demo corpus is a small, original product knowledge base for a fictional solar inverter
("Helios X2"): two PDFs (a manual with a spec table, a warranty policy), a Markdown FAQ and
the source of a monitoring tool in Python, JavaScript and Go. Re-run after editing the text:
    .venv/bin/python scripts/make_demo_corpus.py
"""

from __future__ import annotations

from pathlib import Path

import pymupdf

OUT = Path(__file__).resolve().parent.parent / "ragkit" / "demo_corpus"

CSS = """
body { font-family: sans-serif; font-size: 10pt; }
h1 { font-size: 20pt; font-weight: bold; }
h2 { font-size: 15pt; font-weight: bold; }
table { border-collapse: collapse; }
td, th { border: 1px solid black; padding: 3px; font-size: 10pt; }
"""

MANUAL = """
<h1>Helios X2 Hybrid Inverter: Installation and Operation Manual</h1>
<p>This manual covers the Helios X2 hybrid solar inverter, firmware series 4.x. Read it completely
before installing the unit. Only a certified electrician may connect the inverter to the grid.</p>
<h2>1 Technical specifications</h2>
<p>The table below lists the electrical ratings of the two models in the X2 family.</p>
<table>
<tr><th>Parameter</th><th>X2-5K</th><th>X2-8K</th></tr>
<tr><td>Rated AC output power</td><td>5000 W</td><td>8000 W</td></tr>
<tr><td>Maximum DC input voltage</td><td>600 V</td><td>850 V</td></tr>
<tr><td>MPPT voltage range</td><td>120-550 V</td><td>150-800 V</td></tr>
<tr><td>Number of MPP trackers</td><td>2</td><td>3</td></tr>
<tr><td>Peak efficiency</td><td>97.6 %</td><td>98.1 %</td></tr>
<tr><td>Battery voltage range</td><td>40-60 V</td><td>40-60 V</td></tr>
<tr><td>Weight</td><td>21 kg</td><td>27 kg</td></tr>
</table>
<p>The inverter operates between -25 and 60 degrees Celsius. Above 45 degrees Celsius the output power
is derated linearly to protect the power stage.</p>
<h2>2 Installation</h2>
<p>Mount the inverter vertically on a non-flammable wall, out of direct sunlight. Keep a clearance of
at least 30 cm above and below the unit and 20 cm on each side so that air can circulate through the
heat sink. The mounting bracket must be fixed with four M8 bolts.</p>
<p>Connect the DC strings before the AC side. Check the polarity of every string with a multimeter:
reversed polarity above 300 V can destroy the MPPT input stage and voids the warranty.</p>
<p>The AC output must be protected by a 32 A type B circuit breaker for the X2-5K and a 40 A type B
breaker for the X2-8K. A residual current device of 30 mA type A is required by most grid codes.</p>
<h2>3 Commissioning</h2>
<p>After switching on the DC isolator the display shows the country selection menu. Select the grid
code of the installation country; the inverter then performs a self-test of its grid relays which
takes about 60 seconds. The first connection to the grid happens after the reconnection delay of the
selected grid code, which is 300 seconds for most European countries.</p>
<p>Pair the inverter with the Helios Monitor app by holding the WPS button for five seconds. The
status LED blinks blue while pairing and turns solid green once the cloud connection is established.</p>
<h2>4 Error codes and troubleshooting</h2>
<p>Error E01 (DC insulation fault) means the insulation resistance between the PV array and earth is
below 100 kilo-ohm. Inspect the string cables for damaged insulation, especially after rain.</p>
<p>Error E04 (grid undervoltage) and error E07 (grid overvoltage) are raised when the grid voltage
leaves the window of the selected grid code. The inverter disconnects and retries automatically after
the reconnection delay. Frequent E07 events usually indicate that the cable cross-section between the
inverter and the meter is too small.</p>
<p>Error E12 (overtemperature) occurs when the heat sink exceeds 85 degrees Celsius. Clean the fan
filter, which should be done every six months, and check the clearances given in section 2.</p>
<p>Error E19 (battery communication lost) indicates that the CAN bus link to the battery management
system is interrupted. Check that the CAN cable is plugged into the port labelled BMS and that the
termination switch on the battery is set to ON.</p>
<h2>5 Maintenance</h2>
<p>The Helios X2 needs no scheduled maintenance apart from cleaning the fan filter every six months and
a visual inspection of the cables once a year. Firmware updates are installed automatically over the
air at 02:00 local time when the app's automatic update option is enabled.</p>
"""

WARRANTY = """
<h1>Helios Limited Warranty Policy</h1>
<p>Helios Energy grants this limited warranty to the original purchaser of a Helios X2 inverter installed
in the European Economic Area.</p>
<h2>Warranty period</h2>
<p>The standard warranty period is 12 years from the date of installation, or 12 years and 6 months
from the date of delivery by Helios Energy, whichever ends first. Registering the product in the
Helios Monitor app within 90 days of installation extends the warranty period to 20 years at no
extra cost.</p>
<h2>What is covered</h2>
<p>The warranty covers defects in material and workmanship. During the warranty period Helios Energy
will, at its option, repair the inverter, replace it with an equivalent unit, or refund its current
market value. Replacement units may be refurbished. Labour costs of the installer are reimbursed at a
flat rate of 150 euros per replaced unit.</p>
<h2>Exclusions</h2>
<p>The warranty does not cover damage caused by lightning, flooding or fire; installation that
ignores the clearances and breaker ratings of the manual; reversed DC polarity; or units whose serial
number label has been removed. Cosmetic scratches that do not affect operation are not covered.</p>
<h2>How to make a claim</h2>
<p>Claims are made by the installer through the Helios partner portal. The claim must include the
serial number, the error code shown on the display and a photo of the installation. Helios Energy
answers every claim within five working days.</p>
"""


def write_pdf(html: str, path: Path, title: str) -> None:
    story = pymupdf.Story(html=html, user_css=CSS)
    writer = pymupdf.DocumentWriter(str(path))
    mediabox = pymupdf.paper_rect("a4")
    where = mediabox + (56, 56, -56, -56)
    more = True
    while more:
        device = writer.begin_page(mediabox)
        more, _ = story.place(where)
        story.draw(device)
        writer.end_page()
    writer.close()
    doc = pymupdf.open(path)
    doc.set_metadata({"title": title, "author": "Helios Energy (fictional)"})
    doc.saveIncr()
    doc.close()


def main() -> None:
    (OUT / "docs").mkdir(parents=True, exist_ok=True)
    write_pdf(MANUAL, OUT / "docs" / "helios-x2-manual.pdf", "Helios X2 Manual")
    write_pdf(WARRANTY, OUT / "docs" / "warranty-policy.pdf", "Helios Warranty Policy")
    for pdf in sorted((OUT / "docs").glob("*.pdf")):
        print(pdf.relative_to(OUT), pymupdf.open(pdf).page_count, "pages")


if __name__ == "__main__":
    main()
