import json

from claw_envs.core.actions import parse_action


def test_hermes_tool_call():
    p = parse_action('thinking...\n<tool_call>\n{"name": "bash", "arguments": {"command": "ls -la"}}\n</tool_call>')
    assert p.errors == ()
    assert [(c.name, c.arguments) for c in p.tool_calls] == [("bash", {"command": "ls -la"})]


def test_several_hermes_calls_and_string_arguments():
    p = parse_action('<tool_call>{"name": "a", "arguments": "{\\"x\\": 1}"}</tool_call>'
                     '<tool_call>{"name": "b", "arguments": {}}</tool_call>')
    assert [(c.name, c.arguments) for c in p.tool_calls] == [("a", {"x": 1}), ("b", {})]


def test_openai_message_dict():
    msg = {"role": "assistant", "content": None,
           "tool_calls": [{"id": "call_1", "type": "function",
                           "function": {"name": "bash", "arguments": json.dumps({"command": "pwd"})}}]}
    p = parse_action(msg)
    assert p.errors == ()
    assert p.tool_calls[0].id == "call_1" and p.tool_calls[0].arguments == {"command": "pwd"}


def test_fenced_blocks_languages():
    p = parse_action("Let me look.\n```bash\nls /app\n```\nand\n```python\nprint(1)\n```")
    assert p.code_blocks == (("bash", "ls /app"), ("python", "print(1)"))
    assert p.shell_blocks == ("ls /app",)
    assert parse_action("```\necho hi\n```").shell_blocks == ("echo hi",)


def test_errors_are_structured_never_raised():
    cases = {
        "<tool_call>{not json}</tool_call>": "not valid JSON",
        '<tool_call>{"name": "bash", "arguments": {"command": "ls"}}': "not closed",
        '<tool_call>{"arguments": {}}</tool_call>': "no \"name\"",
        '<tool_call>{"name": "bash", "arguments": [1, 2]}</tool_call>': "must be a JSON object",
        '<tool_call>{"name": "bash", "arguments": "{bad"}</tool_call>': "not valid JSON",
        '<tool_call>[1, 2]</tool_call>': "expected a JSON object",
    }
    for text, expected in cases.items():
        p = parse_action(text)
        assert p.tool_calls == () and len(p.errors) == 1 and expected in p.errors[0], (text, p.errors)
    assert "must be text" in parse_action(12345).errors[0]
    assert parse_action({"tool_calls": [{"function": {"name": "x", "arguments": "nope"}}]}).errors


def test_plain_text_has_nothing():
    p = parse_action("I think the answer is 42.")
    assert p.tool_calls == () and p.code_blocks == () and p.errors == ()
