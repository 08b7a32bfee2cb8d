"""Treatment courses: the signed dose, the dated plan, the course's state and its transitions."""
