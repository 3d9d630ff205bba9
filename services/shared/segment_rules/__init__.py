"""The segment rule language: the field catalogue (`facts`), the parser that checks a
rule and names the JSON path of anything wrong (`rules`), and the per-customer evaluator
over a profile's facts (`evaluate`). Pure: no AWS, no HTTP, no pydantic.

It lives on the ground floor because two services speak it: the segmenter defines and
evaluates segments with it, and the messenger's journeys write their entry and flow
filters in it (validated where they are saved, evaluated by the segmenter, which holds
the profiles)."""
