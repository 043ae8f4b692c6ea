"""Rendering: the iCalendar REQUEST and the iMIP email around it, and the text safety they need."""
