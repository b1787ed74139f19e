"""dateutilsmini - small date helpers."""

from .business import (add_business_days, business_day_range, business_days_between,
                       business_days_in_month, is_business_day, next_business_day,
                       previous_business_day, roll_backward, roll_forward)
from .months import (add_months, add_years, days_in_month, end_of_month, end_of_quarter,
                     is_end_of_month, is_leap_year, month_range, months_between, quarter,
                     start_of_month, start_of_quarter)
from .relative import (next_weekday, parse_relative, previous_weekday, shift,
                       weekday_this_week)

__version__ = "1.0.0"
