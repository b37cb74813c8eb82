"""Shell completion scripts for acp, rendered from the command tree.

The scripts are static: the commands, options and fixed values are written
into them, so pressing Tab costs no Python start-up and file names complete
the shell's own way. Only profile names are looked up when Tab is pressed,
from `acp config profiles`, and each shell quotes them for its command line:
a name may hold spaces, quotes, ``$`` or any printable character.

Each shell walks the words before the cursor the same way: a subcommand
narrows the command path, an option that takes a value skips that value, any
other word is a positional argument.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tools.command_tree import GENERATED, Command, Option, Values

PROFILE_NOTE = (
    "The profile names, one per line, from `acp config profiles`: acp reads config.toml\n"
    "itself, so TOML quoting, escapes and dotted keys mean what they mean to acp."
)


def bash_script(root: Command) -> str:
    """The bash completion script: ``completions/acp``."""
    spec = []
    for command in root.walk():
        spec.append(
            f"        {_sh(' '.join(command.path))})\n"
            f"            _acp_commands={_sh(' '.join(_child_names(command)))}\n"
            f"            _acp_options={_sh(' '.join(_option_names(command.options)))}\n"
            f"            _acp_valued={_sh(' '.join(_valued_names(command.options)))}\n"
            "            ;;"
        )
    actions: dict[str, list[str]] = {}
    for command, key, values in _value_slots(root):
        action = _bash_action(values)
        if action:
            pattern = _sh(f"{' '.join(command.path)}|{key.rstrip('+')}")
            actions.setdefault(action, []).append(pattern + ("*" if key.endswith("+") else ""))
    cases = [
        "        " + " | \\\n        ".join(patterns) + f")\n            {action}\n            ;;"
        for action, patterns in actions.items()
    ]
    return BASH_TEMPLATE.format(
        generated=GENERATED,
        profile_note=_comment(PROFILE_NOTE, "# "),
        spec="\n".join(spec),
        values="\n".join(cases),
    )


def zsh_script(root: Command) -> str:
    """The zsh completion function: ``completions/_acp``."""
    functions = [_zsh_function(command) for command in root.walk()]
    return ZSH_TEMPLATE.format(
        generated=GENERATED,
        profile_note=_comment(PROFILE_NOTE, "# "),
        functions="\n\n".join(functions),
    )


def fish_script(root: Command) -> str:
    """The fish completion script: ``completions/acp.fish``."""
    commands_cases = []
    valued_cases = []
    lines = []
    for command in root.walk():
        where = _fish(command.name)
        if command.commands:
            commands_cases.append(
                f"        case {where}\n            printf '%s\\n' "
                + " ".join(_fish(name) for name in _child_names(command))
            )
        valued = _valued_names(command.options)
        if valued:
            valued_cases.append(
                f"        case {where}\n            printf '%s\\n' "
                + " ".join(_fish(name) for name in valued)
            )
        lines.append(f"\n# {command.name}")
        for child in command.commands:
            lines.append(
                f"complete -c acp -n {_fish(f'__acp_at {_fish(command.name)}')} -f"
                f" -a {_fish(child.path[-1])} -d {_fish(child.summary)}"
            )
        for option in command.options:
            lines.append(_fish_option(command, option))
        for index, argument in enumerate(command.arguments, start=1):
            action = _fish_values(argument.values)
            if action:
                test = "__acp_at_argument " + _fish(command.name) + f" {index}"
                if argument.variadic:
                    test += " +"
                lines.append(f"complete -c acp -n {_fish(test)} {action}")
    return FISH_TEMPLATE.format(
        generated=GENERATED,
        profile_note=_comment(PROFILE_NOTE, "# "),
        commands="\n".join(commands_cases),
        valued="\n".join(valued_cases),
        completions="\n".join(lines).lstrip("\n"),
    )


def powershell_script(root: Command) -> str:
    """The PowerShell argument completer: ``completions/acp.ps1``."""
    commands = []
    options = []
    valued = []
    for command in root.walk():
        key = _ps(command.name)
        if command.commands:
            pairs = [_ps_pair(child.path[-1], child.summary) for child in command.commands]
            commands.append(f"        {key} = {_ps_list(pairs, ' ')}")
        pairs = [_ps_pair(name, option.help) for option in command.options for name in option.names]
        options.append(f"        {key} = {_ps_list(pairs, chr(10) + ' ' * 12)}")
        names = _valued_names(command.options)
        if names:
            valued.append(f"        {key} = @({', '.join(_ps(name) for name in names)})")
    values = []
    for command, slot, slot_values in _value_slots(root):
        if slot_values.kind == "words":
            value = "@(" + ", ".join(_ps(word) for word in slot_values.words) + ")"
        elif slot_values.kind == "profile":
            value = "'<profile>'"
        else:
            continue  # files and free text: PowerShell's own path completion
        values.append(f"        {_ps(command.name + '|' + slot)} = {value}")
    return POWERSHELL_TEMPLATE.format(
        generated=GENERATED,
        profile_note=_comment(PROFILE_NOTE, "    # "),
        commands="\n".join(commands),
        options="\n".join(options),
        valued="\n".join(valued),
        values="\n".join(values),
    )


# --- the command tree, as the scripts need it ---------------------------------------------------


def _child_names(command: Command) -> list[str]:
    return [child.path[-1] for child in command.commands]


def _option_names(options: Iterable[Option]) -> list[str]:
    return [name for option in options for name in option.names]


def _valued_names(options: Iterable[Option]) -> list[str]:
    return [name for option in options if option.takes_value for name in option.names]


def _value_slots(root: Command) -> Iterable[tuple[Command, str, Values]]:
    """Every place a value is typed: (command, option name or argument number, values).

    A variadic argument's number ends with ``+``: it takes every position from there.
    """
    for command in root.walk():
        for option in command.options:
            if option.takes_value:
                for name in option.names:
                    yield command, name, option.values
        for index, argument in enumerate(command.arguments, start=1):
            yield command, f"{index}{'+' if argument.variadic else ''}", argument.values


def _comment(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


# --- bash ----------------------------------------------------------------------------------------


def _sh(text: str) -> str:
    """``text`` as one single-quoted POSIX shell word."""
    return "'" + text.replace("'", "'\\''") + "'"


def _bash_action(values: Values) -> str | None:
    if values.kind == "file":
        return "_acp_files"
    if values.kind == "dir":
        return "_acp_files -d"
    if values.kind == "profile":
        return "_acp_profile_names"
    if values.kind == "words":
        return "_acp_words " + " ".join(_sh(word) for word in values.words)
    return None


BASH_TEMPLATE = r"""# bash completion for acp                                   -*- shell-script -*-
#
# {generated}
# `acp completion bash` prints it; the wheel installs it as
# share/bash-completion/completions/acp, where bash-completion loads it on demand.
# Without bash-completion, add to ~/.bashrc:  source <(acp completion bash)

# _acp_spec PATH: the subcommands, the options and the options that take a value
# of the command PATH ('' for acp itself, 'push prepare', ...).
_acp_spec() {{
    case $1 in
{spec}
        *)
            _acp_commands='' _acp_options='' _acp_valued=''
            ;;
    esac
}}

# _acp_values PATH SLOT: complete the value of option SLOT, or of positional
# argument number SLOT, of the command PATH.
_acp_values() {{
    case "$1|$2" in
{values}
    esac
}}

# _acp_words WORD...: the words that start with the word being completed.
_acp_words() {{
    local word
    for word in "$@"; do
        [[ $word == "$cur"* ]] && COMPREPLY+=("$word")
    done
}}

# _acp_files [-d]: paths; bash-completion's _filedir when it is loaded (it quotes
# and expands ~), else plain compgen.
_acp_files() {{
    if declare -F _filedir >/dev/null; then
        _filedir "$@"
    else
        compopt -o filenames 2>/dev/null
        local IFS=$'\n'
        COMPREPLY+=($(compgen "${{1:--f}}" -- "$cur"))
    fi
}}

{profile_note}
_acp_profile_names() {{
    local name REPLY
    _acp_dequote "$cur"
    while IFS= read -r name; do
        [[ $name == "$REPLY"* ]] || continue
        if [[ $cur == [\"\']* ]]; then
            # Inside the quote the user opened: readline closes it, so only the
            # quote character itself (and, in "...", $ ` \) needs a backslash.
            if [[ $cur == \'* ]]; then
                name=${{name//\'/\'\\\'\'}}
            else
                name=${{name//\\/\\\\}} name=${{name//\"/\\\"}}
                name=${{name//\$/\\\$}} name=${{name//\`/\\\`}}
            fi
            COMPREPLY+=("$name")
        else
            printf -v name %q "$name"
            COMPREPLY+=("$name")
        fi
    done < <(command acp config profiles 2>/dev/null)
}}

# _acp_dequote WORD: set REPLY to WORD as the shell will read it once it is
# complete: quotes and backslashes removed (an unclosed quote is fine), nothing
# expanded. The prefix the user typed is compared with the names in that form.
_acp_dequote() {{
    local word=$1 char quote='' i
    REPLY=''
    for ((i = 0; i < ${{#word}}; i++)); do
        char=${{word:i:1}}
        if [[ $quote == \' ]]; then
            [[ $char == \' ]] && quote='' || REPLY+=$char
        elif [[ $quote == \" ]]; then
            if [[ $char == \" ]]; then
                quote=''
            elif [[ $char == \\ && ${{word:i+1:1}} == [\\\"\$\`] ]]; then
                i=$((i + 1))
                REPLY+=${{word:i:1}}
            else
                REPLY+=$char
            fi
        elif [[ $char == [\"\'] ]]; then
            quote=$char
        elif [[ $char == \\ ]]; then
            i=$((i + 1))
            REPLY+=${{word:i:1}}
        else
            REPLY+=$char
        fi
    done
}}

_acp() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD - 1]}}
    local path='' word i nargs=0 dashdash=0 _acp_commands _acp_options _acp_valued
    COMPREPLY=()
    _acp_spec ''
    # The words before the cursor: a subcommand narrows the path, an option that
    # takes a value skips it, any other word is a positional argument.
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${{COMP_WORDS[i]}}
        if ((dashdash == 0)) && [[ $word == -- ]]; then
            dashdash=1
        elif ((dashdash == 0)) && [[ $word == -* ]]; then
            if [[ " $_acp_valued " == *" $word "* ]]; then
                i=$((i + 1))
                # bash splits --plan=FILE at the = sign
                [[ ${{COMP_WORDS[i]}} == = ]] && i=$((i + 1))
            fi
        elif ((nargs == 0)) && [[ " $_acp_commands " == *" $word "* ]]; then
            path=${{path:+$path }}$word
            _acp_spec "$path"
        else
            nargs=$((nargs + 1))
        fi
    done

    if [[ $cur == = && " $_acp_valued " == *" $prev "* ]]; then
        cur=''
        _acp_values "$path" "$prev"
    elif [[ $prev == = ]] && ((COMP_CWORD > 2)) &&
        [[ " $_acp_valued " == *" ${{COMP_WORDS[COMP_CWORD - 2]}} "* ]]; then
        _acp_values "$path" "${{COMP_WORDS[COMP_CWORD - 2]}}"
    elif ((dashdash == 0)) && [[ $prev == -* && " $_acp_valued " == *" $prev "* ]]; then
        _acp_values "$path" "$prev"
    elif ((dashdash == 0)) && [[ $cur == -* ]]; then
        _acp_words $_acp_options
    elif [[ -n $_acp_commands ]] && ((nargs == 0)); then
        _acp_words $_acp_commands
    else
        _acp_values "$path" "$((nargs + 1))"
    fi
    return 0
}}

complete -F _acp acp
"""


# --- zsh -----------------------------------------------------------------------------------------


def _zsh_function_name(command: Command) -> str:
    return "_" + "_".join(re.sub(r"\W", "_", word) for word in ("acp", *command.path))


def _zsh_bracket(text: str) -> str:
    """An explanation for an ``_arguments`` spec: brackets and backslashes escaped."""
    return re.sub(r"([\\\[\]])", r"\\\1", text)


def _zsh_message(text: str) -> str:
    return re.sub(r"([\\:])", r"\\\1", text)


def _zsh_word(text: str) -> str:
    return re.sub(r"([^\w.@%+=,/-])", r"\\\1", text)


def _zsh_action(values: Values) -> str:
    if values.kind == "file":
        return "_files"
    if values.kind == "dir":
        return "_files -/"
    if values.kind == "profile":
        return "_acp_profiles"
    if values.kind == "words":
        return "(" + " ".join(_zsh_word(word) for word in values.words) + ")"
    return " "


def _zsh_option_specs(option: Option) -> list[str]:
    if option.names[0] == "--help":
        return [f"(- *){name}[{_zsh_bracket(option.help)}]" for name in option.names]
    specs = []
    exclusive = "" if option.repeatable else "(" + " ".join(option.names) + ")"
    repeat = "*" if option.repeatable else ""
    for name in option.names:
        spec = f"{exclusive}{repeat}{name}"
        if option.takes_value:
            spec += "=" if name.startswith("--") else "+"
        spec += f"[{_zsh_bracket(option.help)}]"
        if option.takes_value:
            spec += f":{_zsh_message(option.metavar or 'VALUE')}:{_zsh_action(option.values)}"
        specs.append(spec)
    return specs


def _zsh_function(command: Command) -> str:
    specs = [spec for option in command.options for spec in _zsh_option_specs(option)]
    for argument in command.arguments:
        prefix = "*:" if argument.variadic else (":" if argument.required else "::")
        action = _zsh_action(argument.values)
        specs.append(f"{prefix}{_zsh_message(argument.metavar)}:{action}")
    name = _zsh_function_name(command)
    if not command.commands:
        body = "  _arguments -s -S \\\n    " + " \\\n    ".join(_sh(spec) for spec in specs)
        return f"{name}() {{\n{body}\n}}"
    specs += [": :->command", "*:: :->argument"]
    described = "\n".join(
        f"        {_sh(child.path[-1] + ':' + _zsh_message(child.summary))}"
        for child in command.commands
    )
    dispatch = "\n".join(
        f"        {_sh(child.path[-1])}) {_zsh_function_name(child)} && ret=0 ;;"
        for child in command.commands
    )
    context = "-".join(("acp", *command.path))
    arguments = " \\\n    ".join(_sh(spec) for spec in specs)
    return f"""{name}() {{
  local curcontext=$curcontext state state_descr line ret=1
  local -A opt_args
  _arguments -C -s -S \\
    {arguments} && ret=0
  case $state in
    command)
      local -a commands=(
{described}
      )
      _describe -t commands {_sh(command.name + " command")} commands && ret=0
      ;;
    argument)
      curcontext=${{curcontext%:*:*}}:{context}-$words[1]:
      case $words[1] in
{dispatch}
      esac
      ;;
  esac
  return ret
}}"""


ZSH_TEMPLATE = r"""#compdef acp
# zsh completion for acp.
#
# {generated}
# `acp completion zsh` prints it; the wheel installs it as share/zsh/site-functions/_acp.
# Put that folder on $fpath before compinit runs, or add to ~/.zshrc after
# compinit:  source <(acp completion zsh)

{functions}

{profile_note}
_acp_profiles() {{
  emulate -L zsh
  local expl
  local -a names
  # compadd quotes each name for the command line (spaces, quotes, $ and all).
  names=("${{(@f)$(command acp config profiles 2>/dev/null)}}")
  names=(${{names:#}})
  _wanted profiles expl 'profile name' compadd -a names
}}

if [[ $funcstack[1] == _acp ]]; then
  _acp "$@"
else
  compdef _acp acp
fi
"""


# --- fish ----------------------------------------------------------------------------------------


def _fish(text: str) -> str:
    """``text`` as one single-quoted fish word."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_values(values: Values) -> str:
    if values.kind in ("file", "dir"):
        return "-F"
    if values.kind == "profile":
        return "-x -a '(__acp_profiles)'"
    if values.kind == "words":
        return "-x -a " + _fish(" ".join(_fish(word) for word in values.words))
    return ""


def _fish_option(command: Command, option: Option) -> str:
    parts = ["complete -c acp", "-n", _fish(f"__acp_at {_fish(command.name)}")]
    for name in option.names:
        if name.startswith("--"):
            parts += ["-l", _fish(name[2:])]
        elif len(name) == 2:
            parts += ["-s", _fish(name[1:])]
        else:
            parts += ["-o", _fish(name[1:])]
    if option.takes_value:
        action = _fish_values(option.values)
        if option.values.kind in ("file", "dir"):
            action = "-r -F"
        parts.append(action or "-x")
    if option.help:
        parts += ["-d", _fish(option.help)]
    return " ".join(parts)


FISH_TEMPLATE = r"""# fish completion for acp.
#
# {generated}
# `acp completion fish` prints it; the wheel installs it as
# share/fish/vendor_completions.d/acp.fish. Or save it where fish looks:
#     acp completion fish > ~/.config/fish/completions/acp.fish

# __acp_commands PATH: the subcommands of the command PATH ('acp', 'acp push', ...).
function __acp_commands -a path
    switch "$path"
{commands}
    end
end

# __acp_valued PATH: the options of the command PATH that take a value.
function __acp_valued -a path
    switch "$path"
{valued}
    end
end

# __acp_position: the command path and the number of positional arguments in the
# words before the cursor, one per line. A subcommand narrows the path, an option
# that takes a value skips it, any other word is a positional argument.
function __acp_position
    set -l words (commandline -opc)
    set -e words[1]
    set -l path acp
    set -l nargs 0
    set -l skip 0
    set -l dashdash 0
    for word in $words
        if test $skip = 1
            set skip 0
        else if test $dashdash = 0; and test "$word" = --
            set dashdash 1
        else if test $dashdash = 0; and string match -q -- '-*' $word
            contains -- $word (__acp_valued $path); and set skip 1
        else if test $nargs = 0; and contains -- $word (__acp_commands $path)
            set path "$path $word"
        else
            set nargs (math $nargs + 1)
        end
    end
    printf '%s\n' $path $nargs
end

# __acp_at PATH: whether the cursor is in the command PATH.
function __acp_at -a want
    set -l position (__acp_position)
    test "$position[1]" = "$want"
end

# __acp_at_argument PATH N [+]: whether the cursor is at positional argument N of
# the command PATH (or at N or later, with +).
function __acp_at_argument -a want n more
    set -l position (__acp_position)
    test "$position[1]" = "$want"; or return 1
    set -l at (math $position[2] + 1)
    test $at -eq $n; or begin; test "$more" = +; and test $at -ge $n; end
end

{profile_note}
function __acp_profiles
    # fish escapes each name as it inserts it (spaces, quotes, $ and all).
    command acp config profiles 2>/dev/null
end

complete -c acp -f

{completions}
"""


# --- PowerShell ----------------------------------------------------------------------------------


def _ps(text: str) -> str:
    """``text`` as one single-quoted PowerShell string."""
    return "'" + text.replace("'", "''") + "'"


def _ps_pair(word: str, help_text: str) -> str:
    return f"@({_ps(word)}, {_ps(help_text or word)})"  # a tooltip may not be empty


def _ps_list(items: list[str], separator: str) -> str:
    """A PowerShell array of ``items``; the comma keeps a one-item array from flattening."""
    if len(items) == 1:
        return f"@(,{items[0]})"
    return "@(" + ("," + separator).join(items) + ")"


POWERSHELL_TEMPLATE = r"""# PowerShell completion for acp.
#
# {generated}
# `acp completion powershell` prints it. Load it from your $PROFILE:
#     acp completion powershell | Out-String | Invoke-Expression

Register-ArgumentCompleter -Native -CommandName acp -ScriptBlock {{
    param($wordToComplete, $commandAst, $cursorPosition)

    # The subcommands of each command, with their summaries.
    $commands = @{{
{commands}
    }}
    # The options of each command, with their help.
    $options = @{{
{options}
    }}
    # The options of each command that take a value.
    $valued = @{{
{valued}
    }}
    # Known values of 'COMMAND|OPTION' or 'COMMAND|ARGUMENT NUMBER'; files and free
    # text are left to PowerShell's own path completion.
    $values = @{{
{values}
    }}

{profile_note}
    function Get-AcpProfileNames {{
        & acp config profiles 2>$null
    }}

    # The words before the one being completed: a subcommand narrows the path, an
    # option that takes a value skips it, any other word is a positional argument.
    $words = @($commandAst.CommandElements |
        Where-Object {{ $_.Extent.EndOffset -le $cursorPosition }} |
        ForEach-Object {{ $_.Extent.Text }})
    if ($wordToComplete -ne '' -and $words.Count -gt 0) {{
        $words = @($words | Select-Object -First ($words.Count - 1))
    }}
    $path = 'acp'
    $nargs = 0
    $skip = $false
    foreach ($word in @($words | Select-Object -Skip 1)) {{
        if ($skip) {{
            $skip = $false
        }} elseif ($word.StartsWith('-')) {{
            $skip = $valued[$path] -contains $word
        }} elseif ($nargs -eq 0 -and $commands[$path] -and
                  (@($commands[$path] | ForEach-Object {{ $_[0] }}) -contains $word)) {{
            $path = "$path $word"
        }} else {{
            $nargs++
        }}
    }}
    $previous = if ($words.Count -gt 1) {{ $words[-1] }} else {{ '' }}

    $results = @()
    if ($previous.StartsWith('-') -and $valued[$path] -contains $previous) {{
        $known = $values["$path|$previous"]
    }} elseif ($wordToComplete.StartsWith('-')) {{
        $results = @($options[$path] | ForEach-Object {{ ,@($_[0], $_[1], 'ParameterName') }})
        $known = $null
    }} elseif ($commands[$path] -and $nargs -eq 0) {{
        $results = @($commands[$path] | ForEach-Object {{ ,@($_[0], $_[1], 'ParameterValue') }})
        $known = $null
    }} else {{
        $known = $values["$path|$($nargs + 1)"]
    }}
    if ($known -eq '<profile>') {{
        $known = @(Get-AcpProfileNames)
    }}
    if ($known) {{
        $results = @($known | ForEach-Object {{ ,@($_, $_, 'ParameterValue') }})
    }}
    # The typed prefix without its quotes; a match that PowerShell would split or
    # expand is inserted in single quotes (a ' inside doubled).
    $typed = $wordToComplete.Trim("'", '"')
    $results | Where-Object {{ $_[0].StartsWith($typed, [StringComparison]::OrdinalIgnoreCase) }} |
        ForEach-Object {{
            $text = $_[0]
            if ($text -match '[\s''"`$&|;,(){{}}@#<>]') {{
                $text = "'" + $text.Replace("'", "''") + "'"
            }}
            [System.Management.Automation.CompletionResult]::new($text, $_[0], $_[2], $_[1])
        }}
}}
"""
