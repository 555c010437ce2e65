"""Writes a NeMo manifest of a Free Spoken Digit Dataset folder with the
digits spelled out ("7_theo_3.wav" -> "seven"), so that a character model
can be scored on FSDD's real voices:

    python3 tools/speech/fsdd_manifest.py FSDD_RECORDINGS_DIR OUT.json [SPEAKER ...]

With speakers named, only their recordings are listed.
"""

import json
import os
import sys

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    folder, out, speakers = sys.argv[1], sys.argv[2], set(sys.argv[3:])
    lines = []
    for name in sorted(os.listdir(folder)):
        parts = name[:-4].split("_") if name.endswith(".wav") else []
        if len(parts) != 3 or not parts[0].isdigit() or int(parts[0]) > 9:
            continue
        if speakers and parts[1] not in speakers:
            continue
        path = os.path.abspath(os.path.join(folder, name))
        lines.append({"audio_filepath": path, "text": WORDS[int(parts[0])], "speaker": parts[1]})
    with open(out, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")
    print(f"{out}: {len(lines)} recordings")


if __name__ == "__main__":
    main()
