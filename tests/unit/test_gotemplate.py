"""swarmpy.cli.gotemplate against the docker CLI reference's --format examples and Go's
text/template semantics (the behaviour documented in text/template and its parse tests)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmpy.cli import gotemplate as gt
from swarmpy.errors import SwarmpyError


def render(text: str, data: Any = None, **kwargs: Any) -> str:
    return gt.parse(text).execute(data, **kwargs)


def error(text: str, data: Any = None, **kwargs: Any) -> str:
    with pytest.raises(gt.TemplateError) as info:
        render(text, data, **kwargs)
    return info.value.message


# ------------------------------------------------------------ docker CLI reference examples

SERVICES = [
    {"ID": "0zmvwuiu3vue", "Name": "web", "Mode": "replicated", "Replicas": "10/10"},
    {"ID": "fm6uf97exkul", "Name": "mon", "Mode": "global", "Replicas": "5/5"},
]

CONTAINER = {
    "Id": "3b2cbf074c99",
    "Name": "/Database",
    "Args": ["--appendonly", "yes"],
    "LogPath": "/var/lib/docker/containers/3b2c/3b2c-json.log",
    "SizeRw": 8192,
    "State": {"Pid": 4242, "Running": True},
    "Config": {"Image": "redis:7.4.1", "Labels": {"com.example.vendor": "ACME"}},
    "Mounts": [{"Type": "volume", "Name": "data", "Destination": "/data"}],
    "NetworkSettings": {
        "Networks": {
            "bridge": {"IPAddress": "172.17.0.2", "MacAddress": "02:42:ac:11:00:02"},
        },
        "Ports": {
            "6379/tcp": None,
            "8787/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}],
        },
    },
}


def test_service_ls_format_without_headers() -> None:
    fmt = "{{.ID}}: {{.Mode}} {{.Replicas}}"
    out = gt.format_list(fmt, SERVICES, {})
    assert out == "0zmvwuiu3vue: replicated 10/10\nfm6uf97exkul: global 5/5\n"


def test_service_ls_format_json_sorts_keys_as_go_does() -> None:
    row = {
        "ID": "ssniordqolsi",
        "Name": "hello",
        "Mode": "replicated",
        "Replicas": "0/1",
        "Image": "hello-world:latest",
        "Ports": "",
    }
    assert gt.format_list("json", [row], {}) == (
        '{"ID":"ssniordqolsi","Image":"hello-world:latest","Mode":"replicated",'
        '"Name":"hello","Ports":"","Replicas":"0/1"}\n'
    )


def test_node_ls_and_service_ps_and_network_ls_formats() -> None:
    node = {"ID": "e216jshn25ckzbvmwlnh5jr3g", "Hostname": "swarm-manager1", "TLSStatus": "Ready"}
    assert render("{{.ID}}: {{.Hostname}} {{.TLSStatus}}", node) == (
        "e216jshn25ckzbvmwlnh5jr3g: swarm-manager1 Ready"
    )
    assert render("{{.Name}}: {{.Image}}", {"Name": "top.1", "Image": "busybox"}) == (
        "top.1: busybox"
    )
    assert render("{{.ID}}: {{.Driver}}", {"ID": "afaaab448eb2", "Driver": "bridge"}) == (
        "afaaab448eb2: bridge"
    )


def test_ps_table_labels_header_and_alignment() -> None:
    rows = [
        {"ID": "a87ecb4f327c", "Labels": "com.docker.swarm.node=ubuntu"},
        {"ID": "01946d9d34d8", "Labels": ""},
    ]
    header = {"ID": "CONTAINER ID", "Labels": "LABELS"}
    # The reference shows an older tabwriter (minwidth 20); docker/cli today writes with
    # NewWriter(out, 10, 1, 3, ' ', 0): the widest cell plus three spaces.
    assert gt.format_list("table {{.ID}}\\t{{.Labels}}", rows, header) == (
        "CONTAINER ID   LABELS\na87ecb4f327c   com.docker.swarm.node=ubuntu\n01946d9d34d8   \n"
    )


def test_images_table_with_three_columns() -> None:
    rows = [
        {"ID": "77af4d6b9913", "Repository": "<none>", "Tag": "<none>"},
        {"ID": "746b819f315e", "Repository": "postgres", "Tag": "9.3.5"},
    ]
    header = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG"}
    out = gt.format_list("table {{.ID}}\t{{.Repository}}\t{{.Tag}}", rows, header)
    assert out == (
        "IMAGE ID       REPOSITORY   TAG\n"
        "77af4d6b9913   <none>       <none>\n"
        "746b819f315e   postgres     9.3.5\n"
    )


def test_inspect_examples() -> None:
    nets = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
    assert render(nets, CONTAINER) == "172.17.0.2"
    macs = "{{range .NetworkSettings.Networks}}{{.MacAddress}}{{end}}"
    assert render(macs, CONTAINER) == "02:42:ac:11:00:02"
    assert render("{{.LogPath}}", CONTAINER) == CONTAINER["LogPath"]
    assert render("{{.Config.Image}}", CONTAINER) == "redis:7.4.1"
    assert render("{{ .SizeRw }}", CONTAINER) == "8192"
    ports = (
        "{{range $p, $conf := .NetworkSettings.Ports}} {{$p}} -> "
        "{{with $conf}}{{(index . 0).HostPort}}{{else}}none{{end}} {{end}}"
    )
    assert render(ports, CONTAINER) == " 6379/tcp -> none  8787/tcp -> 32768 "
    one = '{{(index (index .NetworkSettings.Ports "8787/tcp") 0).HostPort}}'
    assert render(one, CONTAINER) == "32768"
    assert render("{{json .Config}}", CONTAINER) == (
        '{"Image":"redis:7.4.1","Labels":{"com.example.vendor":"ACME"}}'
    )
    service = {"Spec": {"Mode": {"Replicated": {"Replicas": 10}}}}
    assert render("{{.Spec.Mode.Replicated.Replicas}}", service) == "10"
    assert render("{{ .ManagerStatus.Leader }}", {"ManagerStatus": {"Leader": False}}) == "false"


def test_formatting_page_functions() -> None:
    assert render('{{join .Args " , "}}', CONTAINER) == "--appendonly , yes"
    assert render("{{json .Mounts}}", CONTAINER) == (
        '[{"Destination":"/data","Name":"data","Type":"volume"}]'
    )
    assert render("{{lower .Name}}", CONTAINER) == "/database"
    assert render("{{upper .Name}}", CONTAINER) == "/DATABASE"
    assert render("{{title .Name}}", {"Name": "hello wide-world_x"}) == "Hello Wide-World_x"
    assert render('{{split .Config.Image ":"}}', CONTAINER) == "[redis 7.4.1]"
    assert render('{{split (join .Args "/") "/"}}', CONTAINER) == "[--appendonly yes]"
    networks = "{{range .NetworkSettings.Networks}}{{println .IPAddress}}{{end}}"
    assert render(networks, CONTAINER) == "172.17.0.2\n"
    assert render("{{pad .A 1 2}}|{{pad .B 1 2}}|", {"A": "x", "B": ""}) == " x  ||"
    assert render("{{truncate .A 3}} {{truncate .A 9}}", {"A": "abcdef"}) == "abc abcdef"
    assert render('{{join .M ","}}', {"M": {"b": 2, "a": 1}}) == "1,2"


def test_table_header_uses_header_functions_and_pad() -> None:
    rows = [{"Name": "web", "Image": "nginx"}]
    header = {"Name": "NAME", "Image": "IMAGE"}
    out = gt.format_list("table {{upper .Name}}\t{{pad .Image 1 1}}", rows, header)
    assert out == "NAME       IMAGE \nWEB        nginx \n"
    # A field the header map lacks prints as a missing key, as docker's map[string]string.
    assert gt.format_list("table {{.Name}}\t{{.Other}}", [{"Name": "a"}], header).startswith(
        "NAME      <no value>\n"
    )


def test_table_without_rows_prints_the_header() -> None:
    assert gt.format_list("table {{.ID}}\t{{.Name}}", [], {"ID": "ID", "Name": "NAME"}) == (
        "ID        NAME\n"
    )


def test_template_string_is_dockers_preprocessing() -> None:
    assert gt.template_string("json") == "{{json .}}"
    assert gt.template_string("table {{.ID}}\\t{{.Name}}\\n") == "{{.ID}}\t{{.Name}}\n"
    assert gt.template_string("  {{.ID}}  ") == "{{.ID}}"
    assert gt.is_table("table {{.ID}}")
    assert not gt.is_table("{{.ID}}")


def test_docker_prefixes_its_errors() -> None:
    with pytest.raises(gt.TemplateError) as info:
        gt.format_list("{{.ID}", [], {})
    assert info.value.message == 'template parsing error: template: :1: unexpected "}" in operand'
    with pytest.raises(SwarmpyError):
        gt.format_each("{{.State.Foo}}", [CONTAINER])


def test_inspect_each_item_on_its_line_and_missing_keys_are_errors() -> None:
    assert gt.format_each("{{.State.Pid}}", [CONTAINER, CONTAINER]) == "4242\n4242\n"
    with pytest.raises(gt.TemplateError) as info:
        gt.format_each("{{.State.Foo}}", [CONTAINER])
    assert info.value.message == (
        'template parsing error: template: :1:8: executing "" at <.State.Foo>: '
        'map has no entry for key "Foo"'
    )
    assert gt.format_each("{{.State.Foo}}", [CONTAINER], missing_key_error=False) == (
        "<no value>\n"
    )
    # inspect's template is used as given: no "table" handling, no \t expansion.
    assert gt.format_each("{{.Id}}\\t", [CONTAINER]) == "3b2cbf074c99\\t\n"


# --------------------------------------------------------------------- Go's text/template


@pytest.mark.parametrize(
    ("value", "truth"),
    [
        (None, False),
        (False, False),
        (True, True),
        (0, False),
        (3, True),
        (0.0, False),
        ("", False),
        ("x", True),
        ([], False),
        ([0], True),
        ({}, False),
        ({"a": 1}, True),
    ],
)
def test_truthiness_is_the_zero_value_of_the_type(value: Any, truth: bool) -> None:
    assert render("{{if .V}}T{{else}}F{{end}}", {"V": value}) == ("T" if truth else "F")


def test_missing_key_is_no_value_and_false() -> None:
    assert render("{{.Nope}}", {}) == "<no value>"
    assert render("{{.A.B.C}}", {}) == "<no value>"
    assert render("{{if .Nope}}T{{else}}F{{end}}", {}) == "F"
    assert render("{{.X}}", {"X": None}) == "<no value>"
    assert render("{{print .Nope}}", {}) == "<nil>"


def test_range_over_maps_is_in_key_order_and_else_runs_when_empty() -> None:
    data = {"M": {"b": 2, "a": 1, "c": 3}, "E": []}
    assert render("{{range $k, $v := .M}}{{$k}}={{$v}};{{end}}", data) == "a=1;b=2;c=3;"
    assert render("{{range .M}}{{.}}{{end}}", data) == "123"
    assert render("{{range .E}}x{{else}}empty{{end}}", data) == "empty"
    assert render("{{range .Nope}}x{{else}}none{{end}}", data) == "none"
    assert render("{{range $i, $e := .L}}{{$i}}{{$e}}{{end}}", {"L": ["a", "b"]}) == "0a1b"
    assert render("{{range 3}}{{.}}{{end}}") == "012"


def test_break_and_continue() -> None:
    text = "{{range .}}{{if eq . 3}}{{break}}{{end}}{{if eq . 1}}{{continue}}{{end}}{{.}}{{end}}"
    assert render(text, [0, 1, 2, 3, 4]) == "02"


def test_else_if_and_else_with_chains() -> None:
    text = "{{if .A}}a{{else if .B}}b{{else if .C}}c{{else}}none{{end}}"
    assert render(text, {"C": 1}) == "c"
    assert render(text, {"B": 1, "C": 1}) == "b"
    assert render(text, {}) == "none"
    text = "{{with .A}}A{{.}}{{else with .B}}B{{.}}{{else}}-{{end}}"
    assert render(text, {"B": 7}) == "B7"
    assert render(text, {}) == "-"


def test_variables_declare_assign_and_scope() -> None:
    assert render("{{$x := 1}}{{$x}}{{$x = 2}}{{$x}}") == "12"
    assert render("{{$}}", 5) == "5"
    assert render("{{range .}}{{$.N}}{{end}}", {"N": "n", "L": [1]}) == "nn"
    text = "{{$x := 0}}{{range .}}{{$x = .}}{{end}}{{$x}}"
    assert render(text, [1, 2, 3]) == "3"
    assert error("{{with $x := 4}}{{end}}{{$x}}") == 'template: :1: undefined variable "$x"'


def test_whitespace_trimming() -> None:
    assert render("x \r\n\t{{- 3}}") == "x3"
    assert render("{{3 -}}\n\n\ty") == "3y"
    assert render("x\n{{-  3   -}}\ny") == "x3y"
    assert render("x \r\n\t{{- /* hi */ -}}\n\n\ty") == "xy"
    assert render("{{-3}}") == "-3"  # no space: a negative number, not a trim marker


def test_literals() -> None:
    assert render('{{"a\\tb"}}|{{`raw\\t`}}|{{true}}|{{false}}') == "a\tb|raw\\t|true|false"
    assert render("{{1}} {{-2}} {{1.5}} {{1e6}} {{0x1F}} {{0o17}} {{0b101}} {{017}} {{1_000}}") == (
        "1 -2 1.5 1e+06 31 15 5 15 1000"
    )
    assert render("{{'a'}} {{'\\n'}} {{1+2i}} {{123456.0}} {{0.00001}}") == (
        "97 10 (1+2i) 123456 1e-05"
    )


def test_printing_of_composites_is_gos_fmt() -> None:
    data = {"L": [1, "a", None, 2.5], "M": {"b": True, "a": {"x": []}}}
    assert render("{{.L}}", data) == "[1 a <nil> 2.5]"
    assert render("{{.M}}", data) == "map[a:map[x:[]] b:true]"


def test_printf_and_print() -> None:
    assert render(
        '{{printf "%s-%d-%5.2f-%q-%v-%x-%t" "a" 7 3.14159 "q" .L 255 true}}', {"L": [1]}
    ) == ('a-7- 3.14-"q"-[1]-ff-true')
    assert render('{{printf "%-4s|%04d|%+d|%T"  "ab" 42 5 .}}', 1.5) == "ab  |0042|+5|float64"
    assert render('{{printf "%d" "x"}}') == "%!d(string=x)"
    assert render('{{printf "%d %d" 1}}') == "1 %!d(MISSING)"
    assert render('{{printf "%d" 1 2}}') == "1%!(EXTRA int=2)"
    assert render('{{print 1 2 "a" "b" 3}}') == "1 2ab3"  # spaces only between non-strings
    assert render('{{"x" | printf "%s-%s" "y"}}') == "y-x"


def test_pipelines_pass_the_value_as_the_last_argument() -> None:
    assert render('{{.Name | upper | printf "<%s>"}}', {"Name": "n"}) == "<N>"
    assert render('{{"a,b" | split "x,y,z"}}') == "[x,y,z]"  # split "x,y,z" "a,b"


def test_comparisons() -> None:
    assert render('{{eq 1 1}} {{eq "a" "b" "a"}} {{ne 1 2}} {{lt 1 2}} {{le 2 2}}') == (
        "true true true true true"
    )
    assert render("{{gt 1.5 1.0}} {{ge 1 2}} {{eq .X nil}} {{eq .N nil}}", {"X": None}) == (
        "true false true true"
    )
    assert error("{{lt 1 1.5}}") == (
        'template: :1:2: executing "" at <lt 1 1.5>: error calling lt: '
        "incompatible types for comparison: int and float64"
    )
    assert error("{{lt true false}}") == (
        'template: :1:2: executing "" at <lt true false>: error calling lt: '
        "invalid type for comparison"
    )
    assert error("{{eq 1}}").endswith("error calling eq: missing argument for comparison")


def test_and_or_not_return_operands_and_short_circuit() -> None:
    assert render('{{and 1 "x"}} {{and 0 "x"}} {{or 0 ""}} {{or 0 "y"}} {{not ""}}') == (
        "x 0  y true"
    )
    # The failing index is never evaluated.
    assert render("{{and 0 (index .L 9)}}", {"L": []}) == "0"
    assert render("{{or 1 (index .L 9)}}", {"L": []}) == "1"


def test_index_slice_len() -> None:
    data = {"L": ["a", "b", "c"], "M": {"k": "v"}, "S": "héllo", "N": {"a": [1, 2]}}
    assert render('{{index .L 1}} {{index .M "k"}}|{{index .M "zz"}}|', data) == "b v||"
    assert render('{{index .N "a" 1}} {{index .N "b"}}', data) == "2 <no value>"
    assert render("{{slice .L 1}} {{slice .L 1 2}} {{slice .S 0 1}}", data) == "[b c] [b] h"
    assert render("{{len .L}} {{len .M}} {{len .S}}", data) == "3 1 6"
    assert error("{{index .L 5}}", data).endswith("error calling index: index out of range: 5")
    assert error("{{len 3}}").endswith("error calling len: len of type int")


def test_html_js_urlquery() -> None:
    assert render('{{html "<a href=\\"x\\">&</a>"}}') == "&lt;a href=&#34;x&#34;&gt;&amp;&lt;/a&gt;"
    assert render('{{js "it\'s <b>"}}') == "it\\'s \\u003Cb\\u003E"
    assert render('{{urlquery "a b&c=d"}}') == "a+b%26c%3Dd"


def test_nested_templates() -> None:
    text = '{{define "item"}}<{{.}}>{{end}}{{range .}}{{template "item" .}}{{end}}'
    assert render(text, [1, 2]) == "<1><2>"
    assert render('a{{block "inner" .}}[{{.}}]{{end}}b', 3) == "a[3]b"
    assert error('{{template "nope"}}').endswith('template "nope" not defined')


@dataclasses.dataclass(frozen=True)
class Row:
    ID: str
    labels: dict[str, str]
    _secret: str = "hidden"

    @property
    def Labels(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))

    def Label(self, name: str) -> str:
        return self.labels.get(name, "")

    def marshal_json(self) -> dict[str, str]:
        return {"ID": self.ID, "Labels": self.Labels}


def test_objects_fields_properties_and_methods_with_arguments() -> None:
    row = Row("abc", {"b": "2", "a": "1"})
    assert render('{{.ID}} {{.Labels}} {{.Label "a"}} {{.Label "zz"}}|', row) == "abc a=1,b=2 1 |"
    assert render("{{json .}}", row) == '{"ID":"abc","Labels":"a=1,b=2"}'
    assert error("{{.Nope}}", row) == (
        'template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *Row'
    )
    assert error("{{._secret}}", row).endswith("can't evaluate field _secret in type *Row")
    assert error("{{.Label}}", row).endswith("wrong number of args for Label: want 1 got 0")
    assert error('{{.ID "x"}}', row).endswith("ID has arguments but cannot be invoked as function")


# ------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{foo}}", 'template: :1: function "foo" not defined'),
        ("hello{{range", "template: :1: unclosed action"),
        ("{{end}}", "template: :1: unexpected {{end}}"),
        ("{{else}}", "template: :1: unexpected {{else}}"),
        ("{{if .X}}1{{else}}2{{else}}3{{end}}", "template: :1: expected end; found {{else}}"),
        ("{{range .X}}", "template: :1: unexpected EOF"),
        ("{{}}", "template: :1: missing value for command"),
        ("{{$x}}", 'template: :1: undefined variable "$x"'),
        ("{{printf 3, 4}}", 'template: :1: unexpected "," in operand'),
        ("{{true.any}}", 'template: :1: unexpected . after term "true"'),
        ("{{12|false}}", "template: :1: non executable command in pipeline stage 2"),
        ("{{ ( ) }}", "template: :1: missing value for parenthesized pipeline"),
        ("{{.X (1 2 3}}", "template: :1: unclosed left paren"),
        ("{{.X 1 2 3 ) }}", "template: :1: unexpected right paren"),
        ("{{a#}}", "template: :1: bad character U+0023 '#'"),
        ("{{'a}}", "template: :1: unterminated character constant"),
        ('{{"a}}', "template: :1: unterminated quoted string"),
        ("{{`a}}", "template: :1: unterminated raw quoted string"),
        ("{{0xi}}", 'template: :1: illegal number syntax: "0xi"'),
        ("{{3k}}", 'template: :1: bad number syntax: "3k"'),
        ("{{/*}}", "template: :1: unclosed comment"),
        ("{{$a,$b,$c := 23}}", "template: :1: too many declarations in command"),
        ("{{range $k, .}}{{end}}", "template: :1: range can only initialize variables"),
        ("{{range .}}{{end}} {{break}}", "template: :1: {{break}} outside {{range}}"),
        ("{{range .}}{{else}}{{continue}}{{end}}", "template: :1: {{continue}} outside {{range}}"),
        ("line1\n{{\n", "template: :3: unclosed action started at :2"),
        ("line1\n{{\nx\n}}", 'template: :3: function "x" not defined'),
        ("{{define `a`}}a{{end}}{{define `a`}}b{{end}}", "multiple definition of template"),
        ('{{"\\q"}}', "template: :1: invalid syntax"),
        ("{{08}}", 'template: :1: integer overflow: "08"'),
    ],
)
def test_parse_errors_are_gos(text: str, message: str) -> None:
    with pytest.raises(gt.TemplateError) as info:
        gt.parse(text)
    assert message in info.value.message
    assert "\n" not in info.value.message


def test_execution_errors_carry_line_column_and_context() -> None:
    assert error("{{.Name}}\n  {{.Foo.Bar}}", 1) == (
        'template: :1:2: executing "" at <.Name>: can\'t evaluate field Name in type int'
    )
    assert error("x\n  {{.A.Foo}}", {"A": "s"}) == (
        'template: :2:6: executing "" at <.A.Foo>: can\'t evaluate field Foo in type string'
    )
    assert error("{{upper 3}}") == ('template: :1:8: executing "" at <3>: expected string; found 3')
    assert error("{{upper}}") == (
        'template: :1:2: executing "" at <upper>: wrong number of args for upper: want 1 got 0'
    )
    assert error("{{nil}}") == 'template: :1:2: executing "" at <nil>: nil is not a command'
    assert error("{{range .}}{{end}}", "s").endswith("range can't iterate over s")
    nested = '{{template "x"}}{{define "x"}}{{.Y}}{{end}}'
    assert render(nested, {"Y": 1}) == "<no value>"  # {{template}} without a pipeline: nil dot
    assert error(nested, {"Y": 1}, missing_key_error=True) == (
        'template: :1:32: executing "x" at <.Y>: nil data; no entry for key "Y"'
    )


def test_template_errors_are_swarmpy_errors_with_one_line() -> None:
    with pytest.raises(SwarmpyError) as info:
        gt.parse("{{if}}")
    assert info.value.message == "template: :1: missing value for if"


def test_partial_output_before_an_error_is_kept() -> None:
    out, err = gt.parse("a{{.X}}b{{.Y.Z}}c").execute_partial({"X": 1, "Y": 2})
    assert out == "a1b"
    assert err is not None
    assert "can't evaluate field Z in type int" in err.message


# ---------------------------------------------------------------------------- tabwriter


def test_tabwriter_aligns_columns_with_minimum_width_and_padding() -> None:
    assert gt.tabwrite("a\tb\tc\nlonger-cell-x\tb\tc\n") == (
        "a               b         c\nlonger-cell-x   b         c\n"
    )


def test_tabwriter_line_without_tabs_ends_the_column_block() -> None:
    text = "aaaaaaaaaaaaaa\tb\nplain line\nc\td\n"
    assert gt.tabwrite(text) == "aaaaaaaaaaaaaa   b\nplain line\nc         d\n"


def test_tabwriter_counts_wide_characters_twice() -> None:
    assert gt.tabwrite("名前名前名前\tx\nab\tx\n") == "名前名前名前   x\nab             x\n"


# ---------------------------------------------------------------------------- properties

DATA = {
    "Name": "web",
    "N": 3,
    "F": 2.5,
    "B": True,
    "L": ["a", "b"],
    "M": {"k": "v", "n": None},
    "Nil": None,
}
ALPHABET = st.sampled_from(
    [
        *"{}.$|()-:=,'\"`\\ \t\n/*0123456789abcxyzNLMF_é名",
        *("{{", "}}", "{{-", "-}}", " := ", "range ", "if ", "else ", "end", "with ", "define "),
        *("printf ", "index ", "len ", "eq ", "and ", "json ", "break", "continue", "nil", "true"),
        *("/*", "*/", "0x", "1e", "'a'", '"s"', ".Name", ".L", ".M", "$x", "$"),
    ]
)
TEMPLATES = st.lists(ALPHABET, max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_lexer_never_raises_on_any_text(text: str) -> None:
    tokens = gt.lex(text)
    assert tokens[-1].type in (gt.T.EOF, gt.T.ERROR)
    assert all(t.type is not gt.T.ERROR for t in tokens[:-1])


@settings(max_examples=600, deadline=None)
@given(TEMPLATES)
def test_lexer_parser_and_evaluator_raise_only_template_errors(text: str) -> None:
    gt.lex(text)
    message = ""
    try:
        gt.parse(text).execute(DATA)
    except gt.TemplateError as exc:
        message = exc.message
    if message:
        assert message.startswith("template: ")
        assert "\n" not in message or "\n" in text


GO_DATA = {
    "SI": [3, 4, 5],
    "MSI": {"one": 1, "two": 2, "three": 3},
    "S": "xyz",
    "Empty0": None,
}


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("{{(1)}}", "1"),
        ("{{print nil}}", "<nil>"),
        ('{{printf "%04x" 127}}', "007f"),
        ('{{printf "%d %s %g" 127 "hello" 7-3i}}', "127 hello (7-3i)"),
        ("{{1+2i|printf `%v`}}", "(1+2i)"),
        ('{{"aaa"|printf }}', "aaa"),
        ("{{printf `%T` 0xef}}", "int"),
        ("{{html .Empty0}}", "&lt;no value&gt;"),
        ('{{"http://www.example.org/"|urlquery}}', "http%3A%2F%2Fwww.example.org%2F"),
        ("{{and false 0}} {{and 1 0}} {{and 0 true}} {{and 1 1}}", "false 0 0 1"),
        ("{{or 0 0}} {{or 1 0}} {{or 0 true}} {{or 1 1}}", "0 1 true 1"),
        ("{{1 | and 1}} {{0 | and 1}} {{1 | or 0}} {{0 | or 0}}", "1 0 1 0"),
        ("{{and 1 .Unknown}} {{or 0 .Unknown}}", "<no value> <no value>"),
        ("{{index .MSI `XXX`}}", "0"),  # the zero value of the map's element type
        ("{{slice .SI}} {{slice .SI 1 2}} {{slice .S 1}}", "[3 4 5] [4] yz"),
        ("{{with 1.5i}}{{.}}{{end}}", "(0+1.5i)"),
        ("{{with .MSI}}{{.}}{{end}}", "map[one:1 three:3 two:2]"),
        ("{{range .MSI}}-{{.}}-{{end}}", "-1--3--2-"),
        ('{{range $v := 5}}{{printf "%T%d" $v $v}}{{end}}', "int0int1int2int3int4"),
        ('{{or .SI "slice is empty"}}', "[3 4 5]"),
        (
            "{{print 0377}} {{print 0x1_23}} {{print +0x1.ep+2}} {{print 0_0_1_2_3.4}}",
            "255 291 7.5 123.4",
        ),
        ("{{$i := 0}}{{range $i = .SI}}{{end}}{{$i}}", "5"),
        ("{{$k := 0}}{{$v := 0}}{{range $k, $v = .SI}}{{$k}}={{$v}} {{end}}", "0=3 1=4 2=5 "),
        ("{{with 0}}{{.}}{{else with false}}{{.}}{{else with `x`}}{{.}}{{end}}", "x"),
        ("{{range .SI}}-{{.}}-{{break}}NOTREACHED{{else}}EMPTY{{end}}", "-3-"),
    ],
)
def test_go_exec_behaviour(text: str, want: str) -> None:
    assert render(text, GO_DATA) == want


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{1 2}}", "can't give argument to non-function 1"),
        ("{{$x := 1}}{{3 | $x}}", "can't give argument to non-function $x"),
        ("{{if nil}}T{{end}}", "nil is not a command"),
        ("{{index .SI `hello`}}", "error calling index: cannot index slice/array with type string"),
        ("{{index nil 1}}", "error calling index: index of untyped nil"),
        ("{{slice .SI 2 1}}", "error calling slice: invalid slice index: 2 > 1"),
        ("{{slice .S 1 2 2}}", "error calling slice: cannot 3-index slice a string"),
        ("{{len .Empty0}}", "error calling len: len of untyped nil"),
        ("{{true|printf}}", "wrong type for value; expected string; got bool"),
        ("{{$x := 1.5}}{{$x.anything}}", "can't evaluate field anything in type float64"),
    ],
)
def test_go_exec_errors(text: str, message: str) -> None:
    assert error(text, GO_DATA).endswith(message)
