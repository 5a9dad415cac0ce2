"""Fixed-length ESC/POS commands: byte after the introducer -> event name.

Epson's command reference gives every command a fixed shape; the ones here have
no parameters, one parameter byte, or a two-byte little-endian number. The parser
turns them into events with these names (``None``: consumed and ignored, because
the command changes nothing this emulator shows, such as colour or head control).
Commands with data of their own (images, barcodes, symbols, macros...) are parsed
one by one in :mod:`.parser`.
"""

from __future__ import annotations

# ESC commands with exactly one parameter byte (event name, or None to ignore).
ESC_ONE: dict[int, str | None] = {
    0x20: "right_spacing",  # SP
    0x21: "print_mode",  # !
    0x25: "user_char_set",  # %
    0x2D: "underline",  # -
    0x33: "line_spacing",  # 3
    0x3F: None,  # ? cancel user-defined character
    0x45: "emphasis",  # E
    0x47: "double_strike",  # G
    0x4A: "feed_units",  # J
    0x4B: None,  # K reverse feed (not on roll printers)
    0x4D: "font",  # M
    0x52: "intl",  # R
    0x54: None,  # T print direction (page mode)
    0x55: None,  # U unidirectional
    0x56: "rotate",  # V
    0x61: "align",  # a
    0x64: "feed_lines",  # d
    0x65: "reverse_feed_lines",  # e
    0x72: None,  # r colour
    0x74: "code_page",  # t
    0x75: None,  # u peripheral status (not on this model)
    0x7B: "upside_down",  # {
    0x41: None,  # A legacy line spacing in 1/60
    0x2B: None,  # + legacy line spacing in 1/360
    0x43: None,  # C page length
    0x46: None,  # F
    0x4E: None,  # N
    0x7A: None,  # z
    0x6B: None,  # k
}
ESC_NONE: dict[int, str | None] = {
    0x40: "init",  # @
    0x32: "line_spacing_default",  # 2
    0x0C: "page_print",  # FF in page mode
    0x3C: None,  # < return home
    0x4C: "page_mode",  # L
    0x53: "standard_mode",  # S
    0x69: "cut_partial",  # i
    0x6D: "cut_partial",  # m
    0x76: None,  # v paper sensor status (not on this model)
    0x4F: None,  # O
}
GS_ONE: dict[int, str | None] = {
    0x21: "size",  # !
    0x42: "reverse",  # B
    0x62: None,  # b smoothing
    0x48: "hri_position",  # H
    0x66: "hri_font",  # f
    0x68: "barcode_height",  # h
    0x77: "barcode_width",  # w
    0x49: "printer_id",  # I
    0x72: "transmit_status",  # r
    0x61: "asb",  # a
    0x54: None,  # T print position to line start
    0x45: None,  # E head control
    0x7C: None,  # | density
    0x6A: None,  # j ink ASB
    0x2F: "downloaded_image_print",  # /
    0x5A: None,  # Z 2D symbol type (other makers)
}
GS_TWO: dict[int, str | None] = {
    0x4C: "left_margin",  # L
    0x57: "area_width",  # W
    0x24: None,  # $ vertical position (page mode)
    0x5C: None,  # \ relative vertical position (page mode)
}
