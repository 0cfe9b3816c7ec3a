"""The catalogue of synthetic BFCL-style functions offered by ``ToolSchemaSource`` (own vocabularies;
never BFCL items): parameters with their JSON-schema types, samplers and request phrases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class _Param:
    name: str
    type: str  # JSON-schema type: string, integer, number, boolean, array
    description: str
    sampler: str
    required: bool = True
    enum: tuple[str, ...] = ()
    phrase: str = ""  # request phrase for an optional parameter, e.g. "in {unit}"
    phrase_false: str = ""  # for optional booleans: the phrase when the value is False


@dataclass(frozen=True)
class _Fn:
    name: str
    domain: str
    description: str
    params: tuple[_Param, ...]
    ask: str  # request sentence with {param} placeholders for the required parameters


def _p(
    name: str,
    typ: str,
    description: str,
    sampler: str,
    *,
    required: bool = True,
    enum: Sequence[str] = (),
    phrase: str = "",
    phrase_false: str = "",
) -> _Param:
    return _Param(name, typ, description, sampler, required, tuple(enum), phrase, phrase_false)


_UNITS_LEN = ("meters", "kilometers", "miles", "feet", "inches", "centimeters")
_CURRENCIES = ("EUR", "USD", "JPY", "GBP", "BRL", "INR", "KES", "CAD")

_FUNCTIONS: tuple[_Fn, ...] = (
    _Fn(
        "get_current_weather",
        "weather",
        "Current weather conditions for a city.",
        (
            _p("location", "string", "City name, e.g. 'Lisbon'.", "city"),
            _p(
                "unit",
                "string",
                "Temperature unit.",
                "enum",
                required=False,
                enum=("celsius", "fahrenheit"),
                phrase="in {unit}",
            ),
        ),
        "What is the weather like in {location} right now?",
    ),
    _Fn(
        "get_weather_forecast",
        "weather",
        "Daily weather forecast for a city.",
        (
            _p("location", "string", "City name.", "city"),
            _p("days", "integer", "Number of days to forecast (1-14).", "int:1:14"),
            _p(
                "include_hourly",
                "boolean",
                "Whether to include an hourly breakdown.",
                "bool",
                required=False,
                phrase="with an hourly breakdown",
                phrase_false="without an hourly breakdown",
            ),
        ),
        "Get the {days}-day forecast for {location}",
    ),
    _Fn(
        "get_air_quality",
        "weather",
        "Air-quality index of a city.",
        (
            _p("location", "string", "City name.", "city"),
            _p(
                "pollutant",
                "string",
                "Pollutant to report.",
                "enum",
                required=False,
                enum=("pm25", "pm10", "ozone", "no2"),
                phrase="for {pollutant}",
            ),
        ),
        "Check the air quality in {location}",
    ),
    _Fn(
        "search_flights",
        "flights",
        "Search one-way flights between two airports.",
        (
            _p("origin", "string", "IATA code of the departure airport.", "airport"),
            _p("destination", "string", "IATA code of the arrival airport.", "airport"),
            _p("departure_date", "string", "Date in YYYY-MM-DD format.", "date"),
            _p(
                "passengers",
                "integer",
                "Number of passengers.",
                "int:1:6",
                required=False,
                phrase="for {passengers} passengers",
            ),
            _p(
                "cabin_class",
                "string",
                "Cabin class.",
                "enum",
                required=False,
                enum=("economy", "premium_economy", "business", "first"),
                phrase="in {cabin_class} class",
            ),
        ),
        "Find flights from {origin} to {destination} on {departure_date}",
    ),
    _Fn(
        "get_flight_status",
        "flights",
        "Live status of a flight.",
        (
            _p("flight_number", "string", "Airline code and number, e.g. 'TP 1234'.", "flight"),
            _p("date", "string", "Date in YYYY-MM-DD format.", "date"),
        ),
        "What is the status of flight {flight_number} on {date}?",
    ),
    _Fn(
        "get_account_balance",
        "banking",
        "Balance of a bank account.",
        (
            _p("account_id", "string", "Account identifier such as 'ACC-123456'.", "account"),
            _p(
                "currency",
                "string",
                "Currency to report the balance in.",
                "enum",
                required=False,
                enum=_CURRENCIES,
                phrase="in {currency}",
            ),
        ),
        "Show me the balance of account {account_id}",
    ),
    _Fn(
        "transfer_funds",
        "banking",
        "Transfer money between two accounts.",
        (
            _p("from_account", "string", "Source account identifier.", "account"),
            _p("to_account", "string", "Destination account identifier.", "account"),
            _p("amount", "number", "Amount to transfer.", "num:5:5000"),
            _p("currency", "string", "Currency of the amount.", "enum", enum=_CURRENCIES),
            _p(
                "memo",
                "string",
                "Note attached to the transfer.",
                "memo",
                required=False,
                phrase="with the note '{memo}'",
            ),
        ),
        "Transfer {amount} {currency} from {from_account} to {to_account}",
    ),
    _Fn(
        "list_transactions",
        "banking",
        "Transactions of an account within a date range.",
        (
            _p("account_id", "string", "Account identifier.", "account"),
            _p("start_date", "string", "First day, YYYY-MM-DD.", "date"),
            _p("end_date", "string", "Last day, YYYY-MM-DD.", "date"),
            _p(
                "min_amount",
                "number",
                "Only transactions of at least this amount.",
                "num:10:1000",
                required=False,
                phrase="only those of at least {min_amount}",
            ),
        ),
        "List the transactions of account {account_id} between {start_date} and {end_date}",
    ),
    _Fn(
        "create_event",
        "calendar",
        "Create a calendar event.",
        (
            _p("title", "string", "Event title.", "title"),
            _p("date", "string", "Date in YYYY-MM-DD format.", "date"),
            _p("start_time", "string", "Start time, HH:MM (24-hour).", "time"),
            _p("duration_minutes", "integer", "Duration in minutes.", "int:15:180:15"),
            _p(
                "location",
                "string",
                "Where the event takes place.",
                "city",
                required=False,
                phrase="in {location}",
            ),
        ),
        "Put '{title}' in my calendar on {date} at {start_time} for {duration_minutes} minutes",
    ),
    _Fn(
        "list_events",
        "calendar",
        "List the events of one day.",
        (
            _p("date", "string", "Date in YYYY-MM-DD format.", "date"),
            _p(
                "calendar",
                "string",
                "Which calendar.",
                "enum",
                required=False,
                enum=("work", "personal", "family"),
                phrase="from my {calendar} calendar",
            ),
        ),
        "What is on my schedule on {date}?",
    ),
    _Fn(
        "cancel_event",
        "calendar",
        "Cancel a calendar event.",
        (
            _p("event_id", "string", "Event identifier such as 'EVT-4821'.", "event"),
            _p(
                "notify_attendees",
                "boolean",
                "Whether to notify the attendees.",
                "bool",
                required=False,
                phrase="and notify the attendees",
                phrase_false="without notifying the attendees",
            ),
        ),
        "Cancel event {event_id}",
    ),
    _Fn(
        "convert_length",
        "units",
        "Convert a length between units.",
        (
            _p("value", "number", "The length to convert.", "num:1:2000"),
            _p("from_unit", "string", "Unit of the value.", "enum", enum=_UNITS_LEN),
            _p("to_unit", "string", "Target unit.", "enum", enum=_UNITS_LEN),
        ),
        "Convert {value} {from_unit} to {to_unit}",
    ),
    _Fn(
        "convert_temperature",
        "units",
        "Convert a temperature between scales.",
        (
            _p("value", "number", "The temperature.", "num:-40:200"),
            _p(
                "from_scale",
                "string",
                "Scale of the value.",
                "enum",
                enum=("celsius", "fahrenheit", "kelvin"),
            ),
            _p("to_scale", "string", "Target scale.", "enum", enum=("celsius", "fahrenheit", "kelvin")),
        ),
        "Convert {value} degrees {from_scale} to {to_scale}",
    ),
    _Fn(
        "convert_currency",
        "units",
        "Convert an amount of money at today's rate.",
        (
            _p("amount", "number", "Amount of money.", "num:1:10000"),
            _p("from_currency", "string", "ISO 4217 code of the amount.", "enum", enum=_CURRENCIES),
            _p("to_currency", "string", "ISO 4217 code to convert to.", "enum", enum=_CURRENCIES),
        ),
        "How much is {amount} {from_currency} in {to_currency}?",
    ),
    _Fn(
        "search_products",
        "shopping",
        "Search the product catalogue.",
        (
            _p("query", "string", "Search terms.", "query"),
            _p(
                "max_price",
                "number",
                "Maximum price in USD.",
                "num:10:500",
                required=False,
                phrase="under {max_price} dollars",
            ),
            _p(
                "sort_by",
                "string",
                "Sort order.",
                "enum",
                required=False,
                enum=("relevance", "price_asc", "price_desc", "rating"),
                phrase="sorted by {sort_by}",
            ),
        ),
        "Search the shop for {query}",
    ),
    _Fn(
        "add_to_cart",
        "shopping",
        "Add a product to the shopping cart.",
        (
            _p("product_id", "string", "Product identifier such as 'PRD-10422'.", "product"),
            _p("quantity", "integer", "How many units.", "int:1:10"),
        ),
        "Add {quantity} of product {product_id} to my cart",
    ),
    _Fn(
        "track_order",
        "shopping",
        "Shipping status of an order.",
        (_p("order_id", "string", "Order identifier such as 'ORD-204417'.", "order"),),
        "Where is my order {order_id}?",
    ),
    _Fn(
        "find_restaurants",
        "dining",
        "Find restaurants in a city.",
        (
            _p("city", "string", "City name.", "city"),
            _p(
                "cuisine",
                "string",
                "Type of cuisine.",
                "enum",
                required=False,
                enum=("italian", "japanese", "mexican", "indian", "vegan", "seafood"),
                phrase="serving {cuisine} food",
            ),
            _p(
                "max_price_level",
                "integer",
                "Price level from 1 (cheap) to 4 (expensive).",
                "int:1:4",
                required=False,
                phrase="with a price level of at most {max_price_level}",
            ),
            _p(
                "open_now",
                "boolean",
                "Only restaurants open right now.",
                "bool",
                required=False,
                phrase="that are open right now",
                phrase_false="whether or not they are open now",
            ),
        ),
        "Find restaurants in {city}",
    ),
    _Fn(
        "book_table",
        "dining",
        "Reserve a table at a restaurant.",
        (
            _p("restaurant_id", "string", "Restaurant identifier such as 'RST-3310'.", "restaurant"),
            _p("date", "string", "Date in YYYY-MM-DD format.", "date"),
            _p("time", "string", "Time, HH:MM (24-hour).", "time"),
            _p("party_size", "integer", "Number of guests.", "int:1:12"),
        ),
        "Book a table for {party_size} at restaurant {restaurant_id} on {date} at {time}",
    ),
    _Fn(
        "get_directions",
        "maps",
        "Route between two places.",
        (
            _p("origin", "string", "Start city.", "city"),
            _p("destination", "string", "End city.", "city"),
            _p(
                "mode",
                "string",
                "Travel mode.",
                "enum",
                required=False,
                enum=("driving", "walking", "cycling", "transit"),
                phrase="with travel mode {mode}",
            ),
        ),
        "Give me directions from {origin} to {destination}",
    ),
    _Fn(
        "send_email",
        "messaging",
        "Send an e-mail.",
        (
            _p("to", "string", "Recipient e-mail address.", "email"),
            _p("subject", "string", "Subject line.", "subject"),
            _p("body", "string", "Message text.", "body"),
        ),
        "Email {to} with the subject '{subject}' and the message '{body}'",
    ),
    _Fn(
        "send_sms",
        "messaging",
        "Send a text message.",
        (
            _p("phone_number", "string", "Number in international format, e.g. '+351912345678'.", "phone"),
            _p("message", "string", "Message text.", "body"),
        ),
        "Text {phone_number} the message '{message}'",
    ),
    _Fn(
        "get_stock_quote",
        "finance",
        "Latest price of a stock.",
        (
            _p("ticker", "string", "Ticker symbol.", "ticker"),
            _p(
                "exchange",
                "string",
                "Stock exchange.",
                "enum",
                required=False,
                enum=("NYSE", "NASDAQ", "LSE", "TSE"),
                phrase="on the {exchange}",
            ),
        ),
        "What is the latest price of {ticker}?",
    ),
    _Fn(
        "calculate_loan_payment",
        "finance",
        "Monthly payment of a fixed-rate loan.",
        (
            _p("principal", "number", "Loan amount.", "num:1000:500000"),
            _p("annual_rate_percent", "number", "Annual interest rate in percent.", "num:1:12"),
            _p("years", "integer", "Term in years.", "int:1:30"),
        ),
        "What is the monthly payment on a loan of {principal} at {annual_rate_percent}% over {years} years?",
    ),
    _Fn(
        "set_thermostat",
        "smart_home",
        "Set the thermostat of a room.",
        (
            _p("room", "string", "Room.", "enum", enum=("living_room", "bedroom", "kitchen", "office")),
            _p("temperature", "number", "Target temperature in celsius.", "num:16:26:1"),
            _p(
                "mode",
                "string",
                "Operating mode.",
                "enum",
                required=False,
                enum=("heat", "cool", "auto", "eco"),
                phrase="in {mode} mode",
            ),
        ),
        "Set the {room} thermostat to {temperature} degrees",
    ),
    _Fn(
        "set_lights",
        "smart_home",
        "Switch and dim the lights of a room.",
        (
            _p("room", "string", "Room.", "enum", enum=("living_room", "bedroom", "kitchen", "office")),
            _p("on", "boolean", "Whether the lights should be on.", "bool"),
            _p(
                "brightness",
                "integer",
                "Brightness in percent.",
                "int:10:100:10",
                required=False,
                phrase="at {brightness}% brightness",
            ),
        ),
        "Switch the {room} lights {on}",
    ),
    _Fn(
        "search_hotels",
        "travel",
        "Search hotels in a city.",
        (
            _p("city", "string", "City name.", "city"),
            _p("check_in", "string", "Check-in date, YYYY-MM-DD.", "date"),
            _p("check_out", "string", "Check-out date, YYYY-MM-DD.", "date"),
            _p("guests", "integer", "Number of guests.", "int:1:6"),
            _p(
                "max_price_per_night",
                "number",
                "Maximum price per night in EUR.",
                "num:40:400",
                required=False,
                phrase="for at most {max_price_per_night} euros per night",
            ),
        ),
        "Find a hotel in {city} for {guests} guests from {check_in} to {check_out}",
    ),
    _Fn(
        "translate_text",
        "language",
        "Translate a text.",
        (
            _p("text", "string", "Text to translate.", "body"),
            _p(
                "target_language",
                "string",
                "ISO 639-1 code of the target language.",
                "enum",
                enum=("es", "fr", "de", "it", "pt", "ja", "sw"),
            ),
            _p(
                "formal",
                "boolean",
                "Use a formal register.",
                "bool",
                required=False,
                phrase="in a formal register",
                phrase_false="in an informal register",
            ),
        ),
        "Translate '{text}' into {target_language}",
    ),
)
_FN_BY_DOMAIN: dict[str, tuple[_Fn, ...]] = {}
for _fn in _FUNCTIONS:
    _FN_BY_DOMAIN[_fn.domain] = (*_FN_BY_DOMAIN.get(_fn.domain, ()), _fn)
