// BerthTerminal
