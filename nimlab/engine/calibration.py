"""Calibration text for int8: what activations look like in normal use, measured before quantizing.

Deliberately unlike the evaluation set in `nimlab.precision.evalset` (no capitals, no quiz questions):
calibrating on the questions you then grade would flatter the candidate. Real quantization toolkits
(TensorRT-LLM's FP8 and SmoothQuant recipes among them) ask for the same thing: a few hundred tokens of
representative traffic.
"""

from __future__ import annotations

CALIBRATION_CHATS: tuple[tuple[str, str], ...] = (
    ("Can you help me plan a three-day trip to the mountains?",
     "Sure. Day one, arrive and take a short valley walk. Day two, hike to a lake and picnic. "
     "Day three, visit a village market before heading home."),
    ("Write a short poem about autumn leaves.",
     "Amber leaves drift slowly down, painting paths in red and brown; the wind hums softly through the town."),
    ("Explain what a database index does.",
     "An index is a sorted lookup structure that lets the database find rows without scanning the whole table, "
     "at the cost of extra storage and slower writes."),
    ("Give me three tips for writing clear emails.",
     "Put the request in the first line, keep paragraphs short, and end with the exact next step you expect."),
    ("What should I pack for a rainy weekend?",
     "A waterproof jacket, quick-drying trousers, spare socks, an umbrella and a dry bag for your phone."),
    ("Summarise the plot of a detective story in two sentences.",
     "A quiet inspector is called to a manor where a guest has vanished. Following small clues, she finds the "
     "host staged the disappearance to collect insurance."),
    ("How do I make a simple tomato sauce?",
     "Soften garlic in olive oil, add crushed tomatoes and a pinch of salt, simmer for twenty minutes, then "
     "finish with fresh basil."),
    ("Describe the difference between a process and a thread.",
     "A process has its own memory space, while threads inside one process share memory and can run "
     "concurrently, which makes them cheaper but riskier to coordinate."),
    ("Suggest a name for a small bakery.",
     "How about Morning Crumb, Flour and Fern, or The Warm Loaf?"),
    ("Why do cats purr?",
     "Cats purr when content, but also when stressed or healing; the vibration may soothe them and even help "
     "bones and tissue recover."),
    ("Translate 'good morning, how are you?' into French.",
     "Bonjour, comment allez-vous ?"),
    ("List the steps to change a bicycle tyre.",
     "Release the brake, remove the wheel, lever off the tyre, replace the inner tube, refit the tyre, inflate "
     "it and put the wheel back."),
    ("What is a good way to start learning the guitar?",
     "Learn four open chords, practise switching between them for ten minutes a day, and play simple songs "
     "that use only those chords."),
    ("Write a friendly reminder about tomorrow's team meeting.",
     "Hi all, a quick reminder that our team meeting is tomorrow at ten in room four. Please bring your "
     "updates. Thanks!"),
    ("How does a heat pump warm a house?",
     "It moves heat rather than making it: a refrigerant absorbs warmth from outside air or ground and releases "
     "it indoors after a compressor raises its temperature."),
    ("Tell me a short story about a lighthouse keeper.",
     "Every night the old keeper lit the lamp and counted ships. One stormy evening a small boat answered his "
     "light with a lantern of its own, and he was never lonely again."),
)
