_if_cli_completion() {
    local IFS=$'
'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \
                   COMP_CWORD=$COMP_CWORD \
                   _IF_CLI_COMPLETE=complete_bash $1 ) )
    return 0
}

complete -o default -F _if_cli_completion if-cli
