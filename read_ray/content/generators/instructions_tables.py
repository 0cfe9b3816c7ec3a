"""Data tables of instructions.py's generators (literals only: no logic lives here)."""

IF_GENRES = (
    "blog post",
    "short essay",
    "product description",
    "letter to the editor",
    "speech",
    "cover letter",
    "short story",
    "travel guide entry",
    "newsletter item",
    "review",
    "opinion piece",
    "FAQ answer",
    "press release",
    "diary entry",
)


IF_TOPICS = (
    "urban beekeeping",
    "the history of the bicycle",
    "learning a second language as an adult",
    "remote work",
    "a night market in Taipei",
    "repairing old furniture",
    "the water cycle",
    "community gardens",
    "a new public library",
    "the first day at a new job",
    "minimalist living",
    "volcanoes",
    "chess for beginners",
    "electric scooters in cities",
    "the importance of sleep",
    "a solar-powered backpack",
    "winter camping",
    "the invention of paper",
    "street food in Mexico City",
    "saving money on groceries",
    "a local marathon",
    "coral reefs",
    "the life of a lighthouse keeper",
    "homemade bread",
    "public transport in small towns",
    "birdwatching",
    "recycling electronics",
    "a museum of everyday objects",
    "space tourism",
    "the art of letter writing",
    "rainy Sundays",
    "a smart water bottle",
    "mountain railways",
    "jazz in the 1920s",
    "kindness at work",
    "a robot vacuum cleaner",
    "tea ceremonies",
    "the future of farming",
    "lost and found offices",
    "a village festival",
    "learning to swim",
    "the Northern Lights",
    "hand-made pottery",
    "a weekend without phones",
    "wind turbines",
    "ancient libraries",
    "a noisy neighbour",
    "a bakery that opens at 4 am",
    "second-hand bookshops",
    "mapping the ocean floor",
)


IF_AUDIENCES = (
    "",
    " for teenagers",
    " for busy parents",
    " for retired readers",
    " for a company newsletter",
    " for complete beginners",
    " for an expert audience",
)


IF_KEYWORDS = (
    "river",
    "lantern",
    "harvest",
    "journey",
    "balance",
    "window",
    "compass",
    "echo",
    "garden",
    "bridge",
    "signal",
    "thunder",
    "pocket",
    "mirror",
    "ladder",
    "anchor",
    "candle",
    "horizon",
    "puzzle",
    "festival",
    "blanket",
    "orbit",
    "meadow",
    "ticket",
    "whistle",
)


IF_FORBIDDEN = (
    "very",
    "really",
    "thing",
    "good",
    "important",
    "also",
    "just",
    "basically",
    "many",
    "great",
    "nice",
    "amazing",
)


IF_ENDINGS = (
    "Any other questions?",
    "Is there anything else I can help with?",
    "Thank you for reading.",
    "That is all for today.",
    "Let me know what you think.",
)


# Ids we sample (constrained_response only makes sense for yes/no questions, so it is left out).
IF_IDS = (
    "keywords:existence",
    "keywords:frequency",
    "keywords:forbidden_words",
    "keywords:letter_frequency",
    "language:response_language",
    "length_constraints:number_sentences",
    "length_constraints:number_paragraphs",
    "length_constraints:number_words",
    "length_constraints:nth_paragraph_first_word",
    "detectable_content:number_placeholders",
    "detectable_content:postscript",
    "detectable_format:number_bullet_lists",
    "detectable_format:number_highlighted_sections",
    "detectable_format:multiple_sections",
    "detectable_format:json_format",
    "detectable_format:title",
    "combination:two_responses",
    "combination:repeat_prompt",
    "startend:end_checker",
    "change_case:capital_word_frequency",
    "change_case:english_capital",
    "change_case:english_lowercase",
    "punctuation:no_comma",
    "startend:quotation",
)


# Extra conflicts beyond if_verifiable's table: case rules against fixed-case markers, a foreign response
# language against an English first word.
IF_EXTRA_CONFLICTS = (
    ("change_case:english_lowercase", "detectable_content:postscript"),
    ("change_case:english_lowercase", "startend:end_checker"),
    ("change_case:english_lowercase", "detectable_format:multiple_sections"),
    ("change_case:english_capital", "detectable_format:multiple_sections"),
    ("language:response_language", "length_constraints:nth_paragraph_first_word"),
    ("language:response_language", "detectable_content:postscript"),
)


# Our own wording of every instruction (the checkers and kwargs are if_verifiable's). IFEval's canonical
# descriptions are avoided on purpose: a probe or evaluation set built from them would otherwise share
# 13-word runs with these prompts, and the leakage filter would block them.
IF_PHRASES: dict[str, tuple[str, ...]] = {
    "keywords:existence": (
        "Make sure each of these words appears somewhere in your text: {keywords}.",
        "Work the following words into your answer: {keywords}.",
    ),
    "keywords:frequency": (
        "Use the word '{keyword}' {relation} {frequency} times.",
        "The word '{keyword}' has to occur {relation} {frequency} times in what you write.",
    ),
    "keywords:forbidden_words": (
        "Do not use any of these words: {forbidden_words}.",
        "Avoid the following words entirely: {forbidden_words}.",
    ),
    "keywords:letter_frequency": (
        "The letter '{letter}' must appear {let_relation} {let_frequency} times in your reply.",
        "Count your letters: '{letter}' should occur {let_relation} {let_frequency} times.",
    ),
    "language:response_language": (
        "Write your whole reply in {language_name} only.",
        "Respond entirely in {language_name}; no other language may appear.",
    ),
    "length_constraints:number_sentences": (
        "Use {relation} {num_sentences} sentences in total.",
        "Your reply must consist of {relation} {num_sentences} sentences.",
    ),
    "length_constraints:number_paragraphs": (
        "Split the text into exactly {num_paragraphs} paragraphs, with a line holding only *** between "
        "consecutive paragraphs.",
        "Write {num_paragraphs} paragraphs exactly and put the divider *** between neighbouring paragraphs.",
    ),
    "length_constraints:number_words": (
        "Keep the reply to {relation} {num_words} words.",
        "The length of your reply has to be {relation} {num_words} words.",
    ),
    "length_constraints:nth_paragraph_first_word": (
        "Write exactly {num_paragraphs} paragraphs separated by single blank lines; paragraph number "
        "{nth_paragraph} has to begin with the word '{first_word}'.",
        "Use {num_paragraphs} paragraphs with an empty line between them, and start paragraph "
        "{nth_paragraph} with the word '{first_word}'.",
    ),
    "detectable_content:number_placeholders": (
        "Include at least {num_placeholders} placeholders in square brackets, for instance [name].",
        "Leave at least {num_placeholders} fill-in fields written in square brackets, like [date].",
    ),
    "detectable_content:postscript": (
        "End with a postscript that begins with '{postscript_marker}'.",
        "Add a final note at the very end, starting with '{postscript_marker}'.",
    ),
    "detectable_format:number_bullet_lists": (
        "Put exactly {num_bullets} items in a Markdown bullet list (lines starting with '* ') and use no "
        "other bullets.",
        "Include one bulleted list of exactly {num_bullets} lines, each starting with '* ', and no other "
        "list items.",
    ),
    "detectable_format:number_highlighted_sections": (
        "Emphasise at least {num_highlights} passages with Markdown italics, *like this*.",
        "Mark at least {num_highlights} key phrases by wrapping each in single asterisks, e.g. *key phrase*.",
    ),
    "detectable_format:multiple_sections": (
        "Organise the reply into {num_sections} sections, each opening with a line '{section_spliter} 1', "
        "'{section_spliter} 2' and so on.",
        "Divide your text into {num_sections} numbered parts headed '{section_spliter} 1', "
        "'{section_spliter} 2', and so forth.",
    ),
    "detectable_format:json_format": (
        "Return the entire output as valid JSON (a ``` code block around it is fine).",
        "Your whole reply must be one valid JSON value, optionally inside a ``` code block.",
    ),
    "detectable_format:title": (
        "Give the text a title enclosed in double angle brackets, for example <<a title>>.",
        "Start with a title written between << and >>.",
    ),
    "combination:two_responses": (
        "Write two different versions of the reply, separated by a line of six asterisks (******) and "
        "nothing else.",
        "Offer two distinct alternatives, with ****** (six asterisks) as the only separator between them.",
    ),
    "combination:repeat_prompt": (
        "Before answering, copy the request above word for word (without these extra instructions), then "
        "write your answer.",
        "Begin by restating the request above exactly as given (leave out these added rules), and only then "
        "respond.",
    ),
    "startend:end_checker": (
        "Close the reply with exactly this phrase and put nothing after it: {end_phrase}",
        "Finish with these exact words, adding nothing afterwards: {end_phrase}",
    ),
    "change_case:capital_word_frequency": (
        "Use {capital_relation} {capital_frequency} words written entirely in capital letters.",
        "Include {capital_relation} {capital_frequency} fully upper-case words.",
    ),
    "change_case:english_capital": (
        "Write the whole reply in English, using capital letters only.",
        "Reply in English and in upper case throughout.",
    ),
    "change_case:english_lowercase": (
        "Write the whole reply in English, using lowercase letters only; no capitals anywhere.",
        "Reply in English, entirely in lower case.",
    ),
    "punctuation:no_comma": (
        "Do not use a single comma anywhere in the reply.",
        "Commas are not allowed anywhere in your text.",
    ),
    "startend:quotation": (
        "Put the entire reply inside double quotation marks.",
        "Enclose everything you write in one pair of double quotes.",
    ),
}
