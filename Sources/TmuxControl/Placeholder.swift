// TmuxControl
